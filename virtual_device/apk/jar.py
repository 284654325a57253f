"""v1 (JAR) signing: META-INF/MANIFEST.MF, CERT.SF and a detached PKCS#7 signature of it.

Follows the JAR File Specification's "Signed JAR File" section as Android reads it
(source.android.com, "APK signing: v1"). `X-Android-APK-Signed` in CERT.SF names the newer
schemes also present, so that Android 7+ refuses an APK whose v2/v3 block was stripped."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7

from virtual_device.apk.signer import ApkSigner

MANIFEST = "META-INF/MANIFEST.MF"
SIGNATURE_FILE = "META-INF/CERT.SF"
CREATED_BY = "1.0 (Android)"
_SCHEME_IDS = {"v2": "2", "v3": "3"}


def _b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _section(name: str, digest: str) -> bytes:
    line = f"Name: {name}"
    # A manifest line holds at most 72 bytes; longer ones continue after "\r\n ".
    parts = [line[:70]] + [" " + line[i : i + 69] for i in range(70, len(line), 69)]
    return ("\r\n".join(parts) + f"\r\nSHA-256-Digest: {digest}\r\n\r\n").encode()


def block_name(signer: ApkSigner) -> str:
    """META-INF/CERT.EC or META-INF/CERT.RSA, by the key's type."""
    kind = "EC" if isinstance(signer.private_key, ec.EllipticCurvePrivateKey) else "RSA"
    return f"META-INF/CERT.{kind}"


def sign_entries(
    entries: Sequence[tuple[str, bytes]], signer: ApkSigner, schemes: Sequence[str]
) -> list[tuple[str, bytes]]:
    """The three META-INF entries that v1-sign `entries` (name, uncompressed bytes)."""
    main = f"Manifest-Version: 1.0\r\nCreated-By: {CREATED_BY}\r\n\r\n".encode()
    sections = [_section(name, _b64(data)) for name, data in entries]
    manifest = main + b"".join(sections)
    newer = ", ".join(_SCHEME_IDS[s] for s in schemes if s in _SCHEME_IDS)
    header = (
        f"Signature-Version: 1.0\r\nCreated-By: {CREATED_BY}\r\n"
        f"SHA-256-Digest-Manifest: {_b64(manifest)}\r\n"
        f"SHA-256-Digest-Manifest-Main-Attributes: {_b64(main)}\r\n"
        + (f"X-Android-APK-Signed: {newer}\r\n" if newer else "")
        + "\r\n"
    )
    signature_file = header.encode() + b"".join(
        _section(name, _b64(section)) for (name, _), section in zip(entries, sections, strict=True)
    )
    certificate = x509.load_der_x509_certificate(signer.certificate)
    signature = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(signature_file)
        .add_signer(certificate, signer.private_key, hashes.SHA256())
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoCapabilities],
        )
    )
    return [(MANIFEST, manifest), (SIGNATURE_FILE, signature_file), (block_name(signer), signature)]
