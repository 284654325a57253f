"""APK Signature Scheme v2 and v3, verified as Android verifies them.

Sources: https://source.android.com/docs/security/features/apksigning/v2 and `.../v3`, and
apksig, Android's own verifier. No maintained Python library verifies these schemes: androguard
only extracts the certificates (and brings IPython and networkx with it), so they are verified
here with `cryptography`.

The file is read from disk in 1 MiB chunks and never held whole in memory: APKs run past
100 MB. What this module refuses, it refuses with an `ApkReadError` whose message is for people.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

EOCD_MAGIC = b"PK\x05\x06"
EOCD_SIZE = 22  # the end of central directory record without its comment
SIGNING_BLOCK_MAGIC = b"APK Sig Block 42"
V2_BLOCK_ID = 0x7109871A
V3_BLOCK_ID = 0xF05368C0
# In v2 signed data: "this APK was also signed with scheme N", so a stripped v3 block shows.
STRIPPING_PROTECTION_ID = 0xBEEFF00D
CHUNK_BYTES = 1024 * 1024
# Far above any real signing block (certificates, signatures, a little padding).
MAX_SIGNING_BLOCK_BYTES = 16 * 1024 * 1024

SIGN_IT = "sign it again with apksigner"


class ApkReadError(Exception):
    """The file is not an APK whose signatures Tabard can trust; the message says why."""


@dataclass(frozen=True)
class ZipLayout:
    """Where the central directory and its end record lie."""

    size: int
    cd_offset: int
    cd_size: int
    cd_entries: int
    eocd_offset: int
    eocd: bytes  # the end record with its comment


@dataclass(frozen=True)
class Signer:
    """One signer of one scheme whose signatures over its signed data verified."""

    scheme: str  # "v2" or "v3"
    certificate: bytes  # DER of the first certificate, whose key made the signatures
    digests: dict[int, bytes] = field(repr=False)  # content digest expected, by algorithm
    also_signed_with: tuple[int, ...] = ()  # v2: the later schemes it says the APK carries


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def read_zip_layout(file: BinaryIO, size: int) -> ZipLayout:
    """The zip's end record, found as Android finds it: the last one whose comment runs to the
    end of the file. ZIP64 is refused, as Android refuses it in APKs."""
    tail_bytes = min(size, EOCD_SIZE + 0xFFFF)
    file.seek(size - tail_bytes)
    tail = file.read(tail_bytes)
    for at in range(len(tail) - EOCD_SIZE, -1, -1):
        if tail[at : at + 4] == EOCD_MAGIC and at + EOCD_SIZE + _u16(tail, at + 20) == len(tail):
            break
    else:
        raise ApkReadError(
            "This file is not an APK: it is not a zip archive. Upload the .apk file."
        )
    eocd = tail[at:]
    eocd_offset = size - tail_bytes + at
    cd_entries, cd_size, cd_offset = _u16(eocd, 10), _u32(eocd, 12), _u32(eocd, 16)
    if 0xFFFFFFFF in (cd_size, cd_offset) or cd_entries == 0xFFFF:
        raise ApkReadError(
            "This APK is a ZIP64 archive, which Android does not install; build it as an "
            "ordinary zip (under 4 GiB and 65,535 entries)."
        )
    if cd_offset + cd_size != eocd_offset:
        raise ApkReadError(
            "This APK's zip structure is damaged: its central directory does not end where its "
            f"end record begins. Build and {SIGN_IT}."
        )
    return ZipLayout(size, cd_offset, cd_size, cd_entries, eocd_offset, eocd)


def read_signing_block(file: BinaryIO, layout: ZipLayout) -> tuple[int, dict[int, bytes]] | None:
    """The APK Signing Block just before the central directory, as its offset and its
    ID-value pairs; None if there is none (the APK has no v2 or v3 signature)."""
    if layout.cd_offset < 32:
        return None
    file.seek(layout.cd_offset - 24)
    footer = file.read(24)
    if footer[8:] != SIGNING_BLOCK_MAGIC:
        return None
    size = int.from_bytes(footer[:8], "little")
    damaged = f"This APK's signing block is damaged ({{}}); {SIGN_IT}."
    if size < 24 or size + 8 > layout.cd_offset:
        raise ApkReadError(damaged.format("its size is impossible"))
    if size > MAX_SIGNING_BLOCK_BYTES:
        raise ApkReadError(damaged.format("it is implausibly large"))
    start = layout.cd_offset - size - 8
    file.seek(start)
    if int.from_bytes(file.read(8), "little") != size:
        raise ApkReadError(damaged.format("its two size fields disagree"))
    pairs = file.read(size - 24)
    blocks: dict[int, bytes] = {}
    at = 0
    while at < len(pairs):
        if at + 12 > len(pairs):
            raise ApkReadError(damaged.format("an entry is cut short"))
        length = int.from_bytes(pairs[at : at + 8], "little")
        if length < 4 or at + 8 + length > len(pairs):
            raise ApkReadError(damaged.format("an entry's length is impossible"))
        block_id = _u32(pairs, at + 8)
        blocks.setdefault(block_id, pairs[at + 12 : at + 8 + length])  # the first wins
        at += 8 + length
    return start, blocks


class _Reader:
    """Little-endian, length-prefixed fields of a signature scheme block."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.at, self.what = data, 0, what

    def _fail(self) -> ApkReadError:
        return ApkReadError(f"This APK's {self.what} is malformed; {SIGN_IT}.")

    def u32(self) -> int:
        if self.at + 4 > len(self.data):
            raise self._fail()
        self.at += 4
        return _u32(self.data, self.at - 4)

    def prefixed(self) -> bytes:
        length = self.u32()
        if self.at + length > len(self.data):
            raise self._fail()
        self.at += length
        return self.data[self.at - length : self.at]

    def sequence(self) -> Iterator[_Reader]:
        """Each item of a length-prefixed sequence of length-prefixed items."""
        items = _Reader(self.prefixed(), self.what)
        while items.at < len(items.data):
            yield _Reader(items.prefixed(), self.what)

    def rest(self) -> bytes:
        return self.data[self.at :]


# Signature algorithm: (content digest, verify(key, signature, data)), from the v2 page.
Verify = Callable[[PublicKeyTypes, bytes, bytes], None]


def _rsa_pss(digest: type[hashes.SHA256 | hashes.SHA512], salt: int) -> Verify:
    def verify(key: PublicKeyTypes, signature: bytes, data: bytes) -> None:
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidSignature
        key.verify(signature, data, padding.PSS(padding.MGF1(digest()), salt), digest())

    return verify


def _rsa_pkcs1(digest: type[hashes.SHA256 | hashes.SHA512]) -> Verify:
    def verify(key: PublicKeyTypes, signature: bytes, data: bytes) -> None:
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidSignature
        key.verify(signature, data, padding.PKCS1v15(), digest())

    return verify


def _ecdsa(digest: type[hashes.SHA256 | hashes.SHA512]) -> Verify:
    def verify(key: PublicKeyTypes, signature: bytes, data: bytes) -> None:
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise InvalidSignature
        key.verify(signature, data, ec.ECDSA(digest()))

    return verify


def _dsa(key: PublicKeyTypes, signature: bytes, data: bytes) -> None:
    if not isinstance(key, dsa.DSAPublicKey):
        raise InvalidSignature
    key.verify(signature, data, hashes.SHA256())


ALGORITHMS: dict[int, tuple[str, Verify]] = {
    0x0101: ("sha256", _rsa_pss(hashes.SHA256, 32)),
    0x0102: ("sha512", _rsa_pss(hashes.SHA512, 64)),
    0x0103: ("sha256", _rsa_pkcs1(hashes.SHA256)),
    0x0104: ("sha512", _rsa_pkcs1(hashes.SHA512)),
    0x0201: ("sha256", _ecdsa(hashes.SHA256)),
    0x0202: ("sha512", _ecdsa(hashes.SHA512)),
    0x0301: ("sha256", _dsa),
}


@dataclass(frozen=True)
class _SignerFields:
    """A v2 or v3 signer's fields, as read and not yet verified."""

    signed_data: bytes
    digests: list[tuple[int, bytes]]
    certificates: list[bytes]
    attributes: list[tuple[int, bytes]]
    signatures: list[tuple[int, bytes]]
    public_key: bytes


def _signer_fields(block: bytes, scheme: str) -> _SignerFields:
    """The fields of the one signer of a v2 or v3 block (the layouts on the v2 and v3 pages)."""
    what = f"{scheme} signature"
    signers = list(_Reader(block, what).sequence())
    if len(signers) != 1:
        raise ApkReadError(
            f"This APK's {scheme} signature has {len(signers)} signers; Tabard accepts APKs with "
            "exactly one signer."
        )
    outer = signers[0]
    signed_data = outer.prefixed()
    sdk_range = (outer.u32(), outer.u32()) if scheme == "v3" else None
    signatures = [(item.u32(), item.prefixed()) for item in outer.sequence()]
    public_key = outer.prefixed()
    inner = _Reader(signed_data, what)
    digests = [(item.u32(), item.prefixed()) for item in inner.sequence()]
    certificates = [item.rest() for item in inner.sequence()]
    if sdk_range is not None and sdk_range != (inner.u32(), inner.u32()):
        raise ApkReadError(f"This APK's v3 signer gives two different SDK ranges; {SIGN_IT}.")
    attributes = [(item.u32(), item.rest()) for item in inner.sequence()]
    return _SignerFields(signed_data, digests, certificates, attributes, signatures, public_key)


def read_signer(block: bytes, scheme: str) -> Signer:
    """The one signer of a v2 or v3 block, its signatures over its signed data verified and
    its certificate checked against its public key (steps 1 to 3 and 6 of the v2 page)."""
    fields = _signer_fields(block, scheme)
    if [alg for alg, _ in fields.digests] != [alg for alg, _ in fields.signatures]:
        raise ApkReadError(
            f"This APK's {scheme} signer lists different algorithms for its digests and its "
            f"signatures, as if one had been added or removed; {SIGN_IT}."
        )
    supported = {alg: sig for alg, sig in fields.signatures if alg in ALGORITHMS}
    if not supported:
        raise ApkReadError(
            f"This APK's {scheme} signature uses no algorithm Android verifies; {SIGN_IT}."
        )
    public_key = _public_key(fields.public_key, scheme)
    for alg, signature in supported.items():
        try:
            ALGORITHMS[alg][1](public_key, signature, fields.signed_data)
        except (InvalidSignature, ValueError, UnsupportedAlgorithm):
            raise ApkReadError(
                f"This APK's {scheme} signature does not verify: the signed data was altered or "
                f"signed with another key. Rebuild it and {SIGN_IT}."
            ) from None
    return Signer(
        scheme=scheme,
        certificate=_first_certificate(fields.certificates, public_key, scheme),
        digests={alg: digest for alg, digest in fields.digests if alg in supported},
        also_signed_with=tuple(
            _u32(value, 0) for key, value in fields.attributes if key == STRIPPING_PROTECTION_ID
        ),
    )


def _public_key(der: bytes, scheme: str) -> PublicKeyTypes:
    try:
        return serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise ApkReadError(
            f"This APK's {scheme} signer's public key cannot be read; {SIGN_IT}."
        ) from None


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _first_certificate(certificates: list[bytes], public_key: PublicKeyTypes, scheme: str) -> bytes:
    """The signer's certificate, which must carry the public key that made the signatures."""
    if not certificates:
        raise ApkReadError(f"This APK's {scheme} signer has no certificate; {SIGN_IT}.")
    try:
        certificate = x509.load_der_x509_certificate(certificates[0])
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise ApkReadError(
            f"This APK's {scheme} signing certificate cannot be read; {SIGN_IT}."
        ) from None
    if _spki(key) != _spki(public_key):
        raise ApkReadError(
            f"This APK's {scheme} signing certificate is for a different key than the one that "
            f"signed it; {SIGN_IT}."
        )
    return certificates[0]


def _chunks(file: BinaryIO, layout: ZipLayout, block_offset: int) -> Iterator[bytes]:
    """What the content digest covers, in 1 MiB chunks: the entries, the central directory,
    and the end record with its central directory offset replaced by the signing block's."""
    for start, length in ((0, block_offset), (layout.cd_offset, layout.cd_size)):
        file.seek(start)
        remaining = length
        while remaining:
            chunk = file.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                raise ApkReadError(
                    "This APK was cut short while it was being read; upload it again."
                )
            remaining -= len(chunk)
            yield chunk
    eocd = layout.eocd[:16] + block_offset.to_bytes(4, "little") + layout.eocd[20:]
    for at in range(0, len(eocd), CHUNK_BYTES):
        yield eocd[at : at + CHUNK_BYTES]


def content_digests(
    file: BinaryIO, layout: ZipLayout, block_offset: int, names: set[str]
) -> dict[str, bytes]:
    """The chunked content digests (v2 page, "Integrity-protected contents"), one per hash
    named, computed in one streaming pass."""
    lengths = (block_offset, layout.cd_size, len(layout.eocd))
    count = sum(-(-length // CHUNK_BYTES) for length in lengths)
    tops = {name: hashlib.new(name, b"\x5a" + count.to_bytes(4, "little")) for name in names}
    for chunk in _chunks(file, layout, block_offset):
        prefix = b"\xa5" + len(chunk).to_bytes(4, "little")
        for name, top in tops.items():
            top.update(hashlib.new(name, prefix + chunk).digest())
    return {name: top.digest() for name, top in tops.items()}


def check_content(
    file: BinaryIO, layout: ZipLayout, block_offset: int, signers: list[Signer]
) -> None:
    """Steps 4 and 5 of the v2 page: each signer's digests equal the APK's contents'."""
    names = {ALGORITHMS[alg][0] for signer in signers for alg in signer.digests}
    computed = content_digests(file, layout, block_offset, names)
    for signer in signers:
        for alg, expected in signer.digests.items():
            if computed[ALGORITHMS[alg][0]] != expected:
                raise ApkReadError(
                    f"This APK's contents do not match its {signer.scheme} signature: it was "
                    "changed after it was signed. Rebuild it and sign it again."
                )


@dataclass(frozen=True)
class Verified:
    """The schemes whose signatures and digests verified, and their one signer."""

    schemes: tuple[str, ...]
    certificate: bytes  # DER: the v3 signer's, else the v2 signer's


def verify_signatures(file: BinaryIO, layout: ZipLayout) -> Verified | None:
    """Verify the APK's v2 and v3 signatures (the v2 and v3 pages, "Verification"); None if it
    has neither. Proof-of-rotation (v3 key rotation) is out of scope: the v3 signer is the
    one reported, and v2 and v3 must name the same one."""
    found = read_signing_block(file, layout)
    if found is None:
        return None
    block_offset, blocks = found
    signers = [
        read_signer(blocks[block_id], scheme)
        for block_id, scheme in ((V2_BLOCK_ID, "v2"), (V3_BLOCK_ID, "v3"))
        if block_id in blocks
    ]
    if not signers:
        return None
    if len({signer.certificate for signer in signers}) > 1:
        raise ApkReadError(
            "This APK's v2 and v3 signatures name different signers; Tabard accepts APKs with "
            f"exactly one signer, so {SIGN_IT} using one key."
        )
    if V3_BLOCK_ID not in blocks and 3 in signers[0].also_signed_with:
        raise ApkReadError(
            "This APK's v3 signature was removed after it was signed (its v2 signature says "
            f"there was one); {SIGN_IT}."
        )
    check_content(file, layout, block_offset, signers)
    return Verified(
        schemes=tuple(signer.scheme for signer in signers), certificate=signers[-1].certificate
    )
