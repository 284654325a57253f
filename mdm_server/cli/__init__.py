"""The server-side groups of the `tabard` command."""
