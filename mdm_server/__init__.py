"""Tabard's server: enrolment, fleet inventory, policy, commands, the secure side and audit."""
