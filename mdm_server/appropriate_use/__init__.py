"""Appropriate use (DESIGN.md flow 9): the staff directory the rules compare searches with,
the flags they raise and their review, and the random sample asked for justification."""
