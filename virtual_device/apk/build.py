"""Building real, signed APKs for tests, demos and virtual-device runs."""

from __future__ import annotations

import io
import random
import struct
import zipfile
from collections.abc import Sequence

from virtual_device.apk import jar, scheme
from virtual_device.apk.axml import Node, compile_document
from virtual_device.apk.signer import ApkSigner, test_signer

BIND_DEVICE_ADMIN = "android.permission.BIND_DEVICE_ADMIN"
SCHEMES = ("v1", "v2", "v3")
FILLER = "assets/filler.bin"
_DATE = (1981, 1, 1, 1, 1, 2)  # apksigner's fixed timestamp: the same input, the same bytes
_ALIGNMENT_EXTRA_ID = 0xD935  # zipalign's extra field (AOSP build-tools zipalign, apksigner)
# The header of a dex file (magic "dex\n035\0"); enough for tools that only look at the name.
_DEX = b"dex\n035\0" + bytes(0x70 - 8)


def manifest_xml(
    package: str,
    *,
    version_code: int,
    version_name: str,
    min_sdk: int,
    target_sdk: int,
    admin_receivers: Sequence[str],
    utf8: bool = False,
    debuggable: bool = False,
) -> bytes:
    """The compiled AndroidManifest.xml of an app with these device-admin receivers."""
    receivers = tuple(
        Node("receiver", android=(("name", name), ("permission", BIND_DEVICE_ADMIN)))
        for name in admin_receivers
    )
    root = Node(
        "manifest",
        android=(("versionCode", version_code), ("versionName", version_name)),
        plain=(("package", package),),
        children=(
            Node(
                "uses-sdk", android=(("minSdkVersion", min_sdk), ("targetSdkVersion", target_sdk))
            ),
            Node(
                "application",
                android=(("debuggable", True),) if debuggable else (),
                children=receivers,
            ),
        ),
    )
    return compile_document(root, utf8=utf8)


def build_apk(
    package: str,
    *,
    version_code: int = 1,
    version_name: str | None = None,
    min_sdk: int = 24,
    target_sdk: int = 28,
    admin_receivers: Sequence[str] = (),
    signer: ApkSigner | None = None,
    schemes: Sequence[str] = SCHEMES,
    padding: int = 0,
    debuggable: bool = False,
) -> bytes:
    """A signed APK that Android, `apksigner verify` and `aapt dump badging` accept: a compiled
    manifest, a classes.dex, `padding` bytes of incompressible filler (stored, for benches
    that need a large APK), and the signatures `schemes` names (v1, v2, v3). `debuggable`
    marks it as a debug build, which Android lets `pm install -d` downgrade."""
    unknown = set(schemes) - set(SCHEMES)
    if unknown or not schemes:
        raise ValueError(f"schemes are some of v1, v2 and v3, not {', '.join(sorted(unknown))}")
    signer = signer or test_signer()
    manifest = manifest_xml(
        package,
        version_code=version_code,
        version_name=version_name or f"{version_code}.0",
        min_sdk=min_sdk,
        target_sdk=target_sdk,
        admin_receivers=admin_receivers,
        debuggable=debuggable,
    )
    entries: list[tuple[str, bytes, int]] = [
        ("AndroidManifest.xml", manifest, zipfile.ZIP_DEFLATED),
        ("classes.dex", _DEX, zipfile.ZIP_DEFLATED),
    ]
    if padding:
        filler = random.Random(package).randbytes(padding)  # noqa: S311 - filler, not a secret
        entries.append((FILLER, filler, zipfile.ZIP_STORED))
    if "v1" in schemes:
        signed = jar.sign_entries([(n, d) for n, d, _ in entries], signer, schemes)
        entries += [(name, data, zipfile.ZIP_DEFLATED) for name, data in signed]
    unsigned = _zip(entries)
    newer = [s for s in schemes if s != "v1"]
    if not newer:
        return unsigned
    return _insert_signing_block(unsigned, signer, newer)


def _zip(entries: Sequence[tuple[str, bytes, int]]) -> bytes:
    """A zip of the entries; stored ones start on a 4-byte boundary, as zipalign leaves them."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data, compression in entries:
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            if compression == zipfile.ZIP_STORED:
                data_offset = out.tell() + 30 + len(name.encode()) + 6
                pad = -data_offset % 4
                info.extra = struct.pack("<HHH", _ALIGNMENT_EXTRA_ID, 2 + pad, 4) + bytes(pad)
            archive.writestr(info, data)
    return out.getvalue()


def _insert_signing_block(apk: bytes, signer: ApkSigner, schemes: Sequence[str]) -> bytes:
    eocd_at = len(apk) - scheme.EOCD_SIZE  # ours carry no zip comment
    (cd_offset,) = struct.unpack_from("<I", apk, eocd_at + 16)
    entries, central_directory, eocd = apk[:cd_offset], apk[cd_offset:eocd_at], apk[eocd_at:]
    block = scheme.signing_block(entries, central_directory, eocd, signer, schemes)
    patched = bytearray(eocd)
    struct.pack_into("<I", patched, 16, cd_offset + len(block))
    return entries + block + central_directory + bytes(patched)
