"""The on-device agent: enrolment, check-in, and (later) the secure-side gate."""
