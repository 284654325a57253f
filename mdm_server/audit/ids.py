"""Event ids that sort by time (RFC 9562 UUIDv7): 48 bits of Unix milliseconds, then random.
New ids land at the end of the unique index instead of anywhere in it, which keeps appends
fast once the log holds millions of events."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return uuid.UUID(int=value)
