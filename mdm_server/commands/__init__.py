"""Commands to devices (DESIGN.md flow 4): queued by IT or by the scheduler, approved by a
second administrator where the type demands it, delivered as server-signed envelopes, and
closed by a receipt the device signs."""
