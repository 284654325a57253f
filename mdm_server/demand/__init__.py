"""Demand and device health for a supervisor's division (DESIGN.md: the one-look view)."""
