"""The `tabard` command: one program, a group per role (see `tabard --help`)."""
