"""QR codes drawn in the terminal, for a phone to scan."""

from __future__ import annotations

import io

import segno

from tabard.output import stdout


def show_qr(text: str) -> None:
    """The QR code of `text` (a URI), drawn in the terminal."""
    drawn = io.StringIO()
    segno.make(text, error="m").terminal(out=drawn, compact=True)
    stdout.out(drawn.getvalue(), highlight=False)
