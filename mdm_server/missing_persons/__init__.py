"""The missing-persons unit's work: cases opened by registrations, the board, reviews."""
