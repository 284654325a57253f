"""Safeguarding referrals and the MASH queue (DESIGN.md flow 11, docs/safeguarding.md)."""
