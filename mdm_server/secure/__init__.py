"""The secure side, server half: container keys, officers' PINs, the gate that opens secure
sessions, and the gateway police transactions go through (DESIGN.md flows 5 to 7)."""
