"""Enrolment tokens and device enrolment (DESIGN.md flow 1)."""
