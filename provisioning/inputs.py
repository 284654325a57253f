"""What a provisioning run is given: the enrolment payload, the agent APK, the police apps and
the policy, read and checked before any device is touched. Every problem is collected, so a
person can fix them all in one go rather than one run at a time."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from device_agent.errors import AgentError
from device_agent.handover import AGENT_PACKAGE
from device_agent.payload import EnrolmentPayload

MAX_APK_BYTES = 512 * 1024 * 1024
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
AGENT_ADMIN = f"{AGENT_PACKAGE}.Admin"
BIND_DEVICE_ADMIN = "android.permission.BIND_DEVICE_ADMIN"
_ANDROID = "{http://schemas.android.com/apk/res/android}"
# A compiled manifest starts with a RES_XML_TYPE chunk header (type 0x0003, header size 8).
_BINARY_XML = b"\x03\x00\x08\x00"
MAKE_VIRTUAL_APKS = "for virtual devices, `tabard virtual-device apks --out DIR` makes them"


@dataclass(frozen=True)
class ApkFacts:
    """What the host can tell of an APK before a device sees it: the package and device-admin
    receivers its manifest names (compiled, as in every real APK, or text)."""

    package: str
    admin_receivers: tuple[str, ...]


@dataclass
class RunFiles:
    """The files a run was given, read; `problems` says what is wrong with them."""

    payload: str = ""  # the QR payload's JSON text
    enrolment: EnrolmentPayload | None = None
    agent_apk: bytes | None = None
    app_apks: dict[str, bytes] = field(default_factory=dict)  # package -> APK
    policy: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)


@contextmanager
def _root_logger_untouched() -> Iterator[None]:
    """apkInspector configures and writes to the root logger: `logging.basicConfig(DEBUG)`
    when imported, and `logging.warning(...)` (which adds a stderr handler) on odd input.
    Inside this block it is silenced, and the root logger is put back as it was after."""
    root = logging.getLogger()
    level, handlers, disabled = root.level, list(root.handlers), root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
        logging.disable(disabled)


def _decode_compiled(manifest: bytes) -> str:
    """A compiled manifest as text XML, decoded by apkInspector."""
    with _root_logger_untouched():
        from apkInspector.axml import get_manifest

        decoded: str = get_manifest(io.BytesIO(manifest))
    return decoded


def read_apk_facts(data: bytes) -> ApkFacts:
    """The package and device-admin receivers an APK names, or ValueError if it is no APK."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if archive.getinfo("AndroidManifest.xml").file_size > MAX_MANIFEST_BYTES:
                raise ValueError("its AndroidManifest.xml is implausibly large")
            manifest = archive.read("AndroidManifest.xml")
    except (zipfile.BadZipFile, KeyError, OSError):
        raise ValueError("not an APK (a zip holding AndroidManifest.xml)") from None
    text: str | bytes = manifest
    if manifest.startswith(_BINARY_XML):
        try:
            text = _decode_compiled(manifest)
        except Exception:  # apkInspector raises whatever its parser meets
            raise ValueError("its compiled AndroidManifest.xml cannot be decoded") from None
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 - expat refuses entity bombs
    except ElementTree.ParseError:
        raise ValueError("its AndroidManifest.xml is neither compiled nor text XML") from None
    package = root.get("package", "")
    if not package:
        raise ValueError("its AndroidManifest.xml names no package")
    receivers = tuple(
        package + name if name.startswith(".") else name
        for receiver in root.iter("receiver")
        if receiver.get(f"{_ANDROID}permission") == BIND_DEVICE_ADMIN
        and (name := receiver.get(f"{_ANDROID}name", ""))
    )
    return ApkFacts(package=package, admin_receivers=receivers)


def _read(path: Path, what: str, limit: int, problems: list[str]) -> bytes | None:
    try:
        if path.stat().st_size > limit:
            problems.append(f"{path}: larger than {limit // (1024 * 1024)} MiB; is it {what}?")
            return None
        return path.read_bytes()
    except OSError as exc:
        problems.append(f"{path}: {exc.strerror or exc}")
        return None


def _payload(path: Path | None, files: RunFiles) -> None:
    """The QR payload, from the payload itself or from `tabard tokens create --json`."""
    if path is None:
        files.problems.append(
            "give --payload FILE: the enrolment payload (`tabard tokens create --json`)"
        )
        return
    data = _read(path, "an enrolment payload", MAX_PAYLOAD_BYTES, files.problems)
    if data is None:
        return
    text = data.decode(errors="replace")
    try:
        document = json.loads(text)
        if isinstance(document, dict) and isinstance(document.get("payload"), dict):
            text = json.dumps(document["payload"])
        parsed = EnrolmentPayload.parse(text)
    except (AgentError, ValueError) as exc:
        files.problems.append(f"{path}: {exc}")
        return
    files.enrolment = parsed
    files.payload = json.dumps(
        {"server": parsed.server, "token": parsed.token, "ca_sha256": parsed.ca_sha256}
    )


def _apk(path: Path, label: str, problems: list[str]) -> tuple[bytes, ApkFacts] | None:
    """The APK at `path` and what it names, or None with the problem said."""
    data = _read(path, "an APK", MAX_APK_BYTES, problems)
    if data is None:
        return None
    try:
        return data, read_apk_facts(data)
    except ValueError as exc:
        problems.append(f"{label}{path}: {exc}")
        return None


def _agent_apk(path: Path, files: RunFiles) -> None:
    read = _apk(path, "--apk ", files.problems)
    if read is None:
        return
    data, facts = read
    check_agent_apk(data, facts, f"--apk {path}", files)


def check_agent_apk(data: bytes, facts: ApkFacts, label: str, files: RunFiles) -> bool:
    """Take `data` as the agent's APK if it is the agent and can own the device; else say why."""
    if facts.package != AGENT_PACKAGE:
        files.problems.append(
            f"{label}: this is {facts.package}, not the Tabard agent ({AGENT_PACKAGE})"
        )
        return False
    if AGENT_ADMIN not in facts.admin_receivers:
        files.problems.append(
            f"{label}: the agent declares no device-admin receiver {AGENT_ADMIN}, so it "
            "cannot be made the device or profile owner"
        )
        return False
    files.agent_apk = data
    return True


def _apps(directory: Path, files: RunFiles) -> None:
    """`--apps DIR`: police app APKs named `<package>.apk`."""
    if not directory.is_dir():
        files.problems.append(f"--apps {directory}: not a directory of <package>.apk files")
        return
    for path in sorted(directory.glob("*.apk")):
        read = _apk(path, "", files.problems)
        if read is None:
            continue
        data, facts = read
        if facts.package != path.stem:
            files.problems.append(
                f"{path}: this is {facts.package}; name it {facts.package}.apk, or give the "
                f"APK of {path.stem}"
            )
        else:
            files.app_apks[path.stem] = data


def _policy(path: Path, files: RunFiles) -> None:
    from mdm_server.policies.source import MAX_POLICY_BYTES, PolicySourceError, load
    from policies import PolicyError, parse_policy

    data = _read(path, "a policy", MAX_POLICY_BYTES, files.problems)
    if data is None:
        return
    try:
        document = load(data.decode("utf-8"))
        parse_policy(document)
    except UnicodeDecodeError:
        files.problems.append(f"--policy {path}: not UTF-8 text")
    except PolicySourceError as exc:
        files.problems.append(f"--policy {path}: {exc}")
    except PolicyError as error:
        files.problems.append(f"--policy {path}: not a valid policy: {'; '.join(error.errors)}")
    else:
        files.policy = dict(document)


def read_run_files(
    *, payload: Path | None, apk: Path | None, apps: Path | None, policy: Path | None
) -> RunFiles:
    """Read and check everything the run was given; every problem is in `problems`."""
    files = RunFiles()
    _payload(payload, files)
    if apk is not None:
        _agent_apk(apk, files)
    if apps is not None:
        _apps(apps, files)
    if policy is not None:
        _policy(policy, files)
    return files
