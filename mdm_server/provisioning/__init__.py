"""Provisioning runs as the server hears of them: each run and each step's outcome on a
device, recorded in the audit log under the IT user who ran `tabard provision`."""
