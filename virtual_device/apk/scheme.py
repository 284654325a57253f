"""APK Signature Scheme v2 and v3: the APK Signing Block between the zip entries and the
central directory (source.android.com/docs/security/features/apksigning/v2 and v3)."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from virtual_device.apk.signer import ApkSigner

V2_BLOCK_ID = 0x7109871A
V3_BLOCK_ID = 0xF05368C0
# apksigner's v2 attribute saying a v3 block also signs the APK (stripping protection).
STRIPPING_PROTECTION_ID = 0xBEEFF00D
V3_MIN_SDK = 28  # Android 9, the first to read v3
V3_MAX_SDK = 0x7FFFFFFF
BLOCK_MAGIC = b"APK Sig Block 42"
CHUNK = 1024 * 1024
EOCD_SIZE = 22


def prefixed(data: bytes) -> bytes:
    """`data` after its length as a little-endian uint32."""
    return struct.pack("<I", len(data)) + data


def sequence(items: Iterable[bytes]) -> bytes:
    """A length-prefixed sequence of length-prefixed items."""
    return prefixed(b"".join(prefixed(item) for item in items))


def content_digest(
    sections: Sequence[bytes | memoryview], new: Callable[[], Any] = hashlib.sha256
) -> bytes:
    """The chunked digest over the sections (SHA-256 unless `new` says otherwise): each
    1 MiB chunk digested after 0xa5 and its length, then those digests after 0x5a and their
    count."""
    digests = []
    for section in sections:
        view = memoryview(section)
        for start in range(0, len(view), CHUNK):
            chunk = view[start : start + CHUNK]
            digest = new()
            digest.update(b"\xa5" + struct.pack("<I", len(chunk)))
            digest.update(chunk)
            digests.append(digest.digest())
    top = new()
    top.update(b"\x5a" + struct.pack("<I", len(digests)) + b"".join(digests))
    return bytes(top.digest())


def _signer_block(signer: ApkSigner, digest: bytes, *, v3: bool, also_v3: bool) -> bytes:
    digests = sequence([struct.pack("<I", signer.algorithm) + prefixed(digest)])
    certificates = sequence([signer.certificate])
    attributes = []
    if also_v3:
        attributes.append(struct.pack("<II", STRIPPING_PROTECTION_ID, 3))
    sdk_range = struct.pack("<II", V3_MIN_SDK, V3_MAX_SDK) if v3 else b""
    signed_data = digests + certificates + sdk_range + sequence(attributes)
    signatures = sequence(
        [struct.pack("<I", signer.algorithm) + prefixed(signer.sign(signed_data))]
    )
    return prefixed(signed_data) + sdk_range + signatures + prefixed(signer.public_key_der())


def signing_block(
    entries: bytes, central_directory: bytes, eocd: bytes, signer: ApkSigner, schemes: Sequence[str]
) -> bytes:
    """The APK Signing Block for the zip split as `entries`, `central_directory` and `eocd`
    (whose central-directory offset is where the block will start), with a v2 and/or a v3
    signer as `schemes` asks."""
    digest = content_digest([entries, central_directory, eocd])
    pairs = []
    if "v2" in schemes:
        v2 = _signer_block(signer, digest, v3=False, also_v3="v3" in schemes)
        pairs.append((V2_BLOCK_ID, prefixed(prefixed(v2))))
    if "v3" in schemes:
        v3 = _signer_block(signer, digest, v3=True, also_v3=False)
        pairs.append((V3_BLOCK_ID, prefixed(prefixed(v3))))
    body = b"".join(
        struct.pack("<QI", 4 + len(value), block_id) + value for block_id, value in pairs
    )
    size = len(body) + 8 + len(BLOCK_MAGIC)
    return struct.pack("<Q", size) + body + struct.pack("<Q", size) + BLOCK_MAGIC
