"""Checking a v1 (JAR) signature as Android 7-9 does when an APK has no v2 or v3 block
(AOSP `android.util.jar.StrictJarVerifier`, android-7.1.2 / 9.0): the PKCS#7 signature over
the .SF file, the .SF's digest of the manifest, and every entry's digest in the manifest."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from virtual_device.apk.verify import SignatureError

MANIFEST = "META-INF/MANIFEST.MF"
_DIGESTS = {  # DER of the digest algorithm OIDs (RFC 5754, RFC 3370)
    bytes.fromhex("2b0e03021a"): ("SHA1", "sha1", hashes.SHA1),
    bytes.fromhex("608648016503040201"): ("SHA-256", "sha256", hashes.SHA256),
    bytes.fromhex("608648016503040202"): ("SHA-384", "sha384", hashes.SHA384),
    bytes.fromhex("608648016503040203"): ("SHA-512", "sha512", hashes.SHA512),
}
_MESSAGE_DIGEST = bytes.fromhex("2a864886f70d010904")  # PKCS#9 messageDigest
_SCHEME_IDS = {"2": 24, "3": 28}  # X-Android-APK-Signed ids and the SDK that first knows each


@dataclass(frozen=True)
class _Tlv:
    tag: int
    raw: bytes  # the whole encoding
    content: bytes


def _tlv(data: bytes, at: int = 0) -> tuple[_Tlv, int]:
    """One DER element at `at`, and where the next one starts."""
    if at + 2 > len(data):
        raise SignatureError("truncated PKCS#7 signature")
    tag, length, head = data[at], data[at + 1], at + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or head + count > len(data):
            raise SignatureError("malformed length in PKCS#7 signature")
        length = int.from_bytes(data[head : head + count], "big")
        head += count
    if head + length > len(data):
        raise SignatureError("truncated PKCS#7 signature")
    return _Tlv(tag, data[at : head + length], data[head : head + length]), head + length


def _children(content: bytes) -> list[_Tlv]:
    items, at = [], 0
    while at < len(content):
        item, at = _tlv(content, at)
        items.append(item)
    return items


def verify_pkcs7(block: bytes, signed: bytes) -> bytes:
    """The signer's certificate (DER) if `block`, a detached PKCS#7 SignedData (RFC 2315),
    carries a valid signature over `signed`; `SignatureError` otherwise."""
    content_info = _children(_tlv(block)[0].content)
    if len(content_info) < 2 or content_info[1].tag != 0xA0:
        raise SignatureError("the signature block is not PKCS#7 SignedData")
    signed_data = _children(_tlv(content_info[1].content)[0].content)
    certificates = [
        c.raw for item in signed_data if item.tag == 0xA0 for c in _children(item.content)
    ]
    signer_infos = [item for item in signed_data if item.tag == 0x31]
    if not signer_infos or not _children(signer_infos[-1].content):
        raise SignatureError("the PKCS#7 signature has no signer")
    fields = _children(_children(signer_infos[-1].content)[0].content)
    if len(fields) < 5:
        raise SignatureError("malformed PKCS#7 SignerInfo")
    issuer_serial = _children(fields[1].content)
    digest_oid = _children(fields[2].content)[0].content
    if digest_oid not in _DIGESTS:
        raise SignatureError("unsupported digest algorithm in the PKCS#7 signature")
    _, hash_name, digest = _DIGESTS[digest_oid]
    attributes = fields[3] if fields[3].tag == 0xA0 else None
    signature = fields[-1].content
    certificate = _find_certificate(certificates, issuer_serial)
    if attributes is None:
        to_verify = signed
    else:
        to_verify = b"\x31" + attributes.raw[1:]  # signed over as a SET OF (RFC 5652 5.4)
        expected = hashlib.new(hash_name, signed).digest()
        if _message_digest(attributes.content) != expected:
            raise SignatureError("the PKCS#7 message digest does not match the .SF file")
    key = certificate.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, to_verify, ec.ECDSA(digest()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, to_verify, padding.PKCS1v15(), digest())
        else:
            raise SignatureError("unsupported key type in the PKCS#7 signature")
    except InvalidSignature as exc:
        raise SignatureError("the PKCS#7 signature over the .SF file does not verify") from exc
    return certificate.public_bytes(serialization.Encoding.DER)


def _find_certificate(certificates: list[bytes], issuer_serial: list[_Tlv]) -> x509.Certificate:
    serial = (
        int.from_bytes(issuer_serial[1].content, "big", signed=True)
        if len(issuer_serial) > 1
        else None
    )
    for der in certificates:
        try:
            certificate = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        if (
            certificate.serial_number == serial
            and certificate.issuer.public_bytes() == issuer_serial[0].raw
        ):
            return certificate
    raise SignatureError("the PKCS#7 signature carries no certificate for its signer")


def _message_digest(attributes: bytes) -> bytes | None:
    for attribute in _children(attributes):
        parts = _children(attribute.content)
        if len(parts) == 2 and parts[0].content == _MESSAGE_DIGEST:
            values = _children(parts[1].content)
            return values[0].content if values else None
    return None


def _sections(text: bytes) -> list[tuple[dict[str, str], bytes]]:
    """A manifest's sections: their attributes (continuation lines joined) and raw bytes."""
    sections = []
    normalized = text.replace(b"\r\n", b"\n")
    for chunk in normalized.split(b"\n\n"):
        if not chunk.strip():
            continue
        attributes: dict[str, str] = {}
        last = ""
        for line in chunk.decode(errors="replace").split("\n"):
            if line.startswith(" ") and last:
                attributes[last] += line[1:]
            elif ": " in line:
                last, _, value = line.partition(": ")
                attributes[last] = value
        sections.append((attributes, chunk))
    return sections


def _raw_sections(text: bytes) -> list[bytes]:
    """The bytes of each section as written, line endings and blank line included."""
    out, start, sep = [], 0, b"\r\n\r\n" if b"\r\n" in text else b"\n\n"
    while start < len(text):
        end = text.find(sep, start)
        end = len(text) if end < 0 else end + len(sep)
        out.append(text[start:end])
        start = end
    return out


def _digest_of(attributes: dict[str, str], data: bytes, suffix: str = "-Digest") -> bool | None:
    """Whether some `<ALG>-Digest` attribute matches `data`; None if there is none."""
    for name, hash_name, _ in _DIGESTS.values():
        value = attributes.get(f"{name}{suffix}")
        if value is not None:
            return base64.b64decode(value) == hashlib.new(hash_name, data).digest()
    return None


def verify_v1(archive: zipfile.ZipFile, *, sdk: int) -> bytes:
    """The v1 signer's certificate (DER), after Android's checks; `SignatureError` if any fails
    or the signature files are malformed."""
    try:
        return _verify_v1(archive, sdk=sdk)
    except SignatureError:
        raise
    except (IndexError, ValueError, UnsupportedAlgorithm) as exc:  # binascii.Error is one too
        raise SignatureError(f"malformed v1 signature: {exc}") from None


def _verify_v1(archive: zipfile.ZipFile, *, sdk: int) -> bytes:
    names = archive.namelist()
    blocks = [
        n
        for n in names
        if n.startswith("META-INF/") and n.rsplit(".", 1)[-1] in ("RSA", "EC", "DSA")
    ]
    if MANIFEST not in names or not blocks:
        raise SignatureError("no v1 signature (META-INF/MANIFEST.MF and a signature block)")
    block = blocks[0]
    sf_name = block.rsplit(".", 1)[0] + ".SF"
    if sf_name not in names:
        raise SignatureError(f"{block} has no {sf_name}")
    signature_file, manifest = archive.read(sf_name), archive.read(MANIFEST)
    certificate = verify_pkcs7(archive.read(block), signature_file)
    sf_sections = _sections(signature_file)
    header = sf_sections[0][0] if sf_sections else {}
    for scheme_id in header.get("X-Android-APK-Signed", "").replace(" ", "").split(","):
        if scheme_id in _SCHEME_IDS and sdk >= _SCHEME_IDS[scheme_id]:
            raise SignatureError(
                f"signature stripped: the v{scheme_id} block named by {sf_name} is missing"
            )
    manifest_sections = {
        attrs.get("Name"): raw for raw in _raw_sections(manifest) for attrs, _ in _sections(raw)
    }
    whole = _digest_of(header, manifest, "-Digest-Manifest")
    for attributes, _ in sf_sections[1:] if not whole else []:
        raw = manifest_sections.get(attributes.get("Name"))
        if raw is None or not _digest_of(attributes, raw):
            raise SignatureError(
                f"{sf_name} does not match MANIFEST.MF for {attributes.get('Name')}"
            )
    listed = {attrs.get("Name"): attrs for attrs, _ in _sections(manifest)[1:]}
    for info in archive.infolist():
        if info.is_dir() or info.filename.startswith("META-INF/"):
            continue
        entry = listed.get(info.filename)
        if entry is None or not _digest_of(entry, archive.read(info)):
            raise SignatureError(f"{info.filename} is not signed, or its digest does not match")
    return certificate
