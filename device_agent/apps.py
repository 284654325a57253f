"""Putting the catalogue's apps on the device: fetch the APK a command names (resuming a
download that was cut), refuse it unless its SHA-256 and size are the command's, install it
through the Platform, and say which version the device then has.

The command is signed by the server, and it carries the digest; the download needs no trust
of its own. A file that does not match is deleted, never installed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device_agent.client import ServerClient
from device_agent.errors import AgentError
from device_agent.platform.base import Platform
from device_agent.state import AgentState

DOWNLOADS = "downloads"
HEX_DIGITS = frozenset("0123456789abcdef")


class InstallFailedError(AgentError):
    """The device refused the app, or the file was not the one the command named. `reason`
    is Android's code (`INSTALL_FAILED_OLDER_SDK`) or Tabard's (`digest_mismatch`), for the
    receipt; the message says it for people."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)

    @property
    def evidence(self) -> dict[str, Any]:
        return {"reason": self.reason}


@dataclass(frozen=True)
class AppOrder:
    """What an install, update or remove command asks for (its checked parameters)."""

    package: str
    profile: str
    version_code: int | None = None
    sha256: str | None = None
    size: int | None = None
    allow_downgrade: bool = False

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> AppOrder:
        """The order, or AgentError if the parameters are not what the protocol says."""
        package, profile = params.get("package"), params.get("profile", "work")
        if not isinstance(package, str) or not package or profile not in ("work", "personal"):
            raise AgentError("the command names no package, or a profile other than work/personal")
        digest, size, version = params.get("sha256"), params.get("size"), params.get("version_code")
        if digest is not None and not (
            isinstance(digest, str) and len(digest) == 64 and set(digest) <= HEX_DIGITS
        ):
            raise AgentError("the command's sha256 is not 64 lowercase hex digits")
        for name, value in (("size", size), ("version_code", version)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise AgentError(f"the command's {name} is not a positive whole number")
        return cls(
            package=package,
            profile=profile,
            version_code=version,
            sha256=digest,
            size=size,
            allow_downgrade=params.get("allow_downgrade") is True,
        )


def download_path(state: AgentState, sha256: str) -> Path:
    """Where the APK with this digest is kept while it downloads."""
    return state.path(DOWNLOADS) / f"{sha256}.apk.part"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def fetch_apk(client: ServerClient, state: AgentState, order: AppOrder) -> Path:
    """The command's APK on local disk, its digest checked; downloaded, or resumed from
    what an earlier, interrupted try left."""
    if order.sha256 is None or order.size is None:
        raise AgentError("an install needs the APK's sha256 and size")
    state.ensure()
    folder = state.path(DOWNLOADS)
    folder.mkdir(mode=0o700, exist_ok=True)
    part = download_path(state, order.sha256)
    await client.download(f"/api/v1/device/apps/{order.sha256}", part, size=order.size)
    got = part.stat().st_size
    if got != order.size or file_sha256(part) != order.sha256:
        part.unlink(missing_ok=True)
        raise InstallFailedError(
            "digest_mismatch",
            f"the downloaded file ({got} bytes) is not the APK the command named "
            f"(SHA-256 {order.sha256[:12]}…, {order.size} bytes); it was deleted, not installed",
        )
    return part


async def install(
    client: ServerClient, state: AgentState, platform: Platform, order: AppOrder, *, update: bool
) -> dict[str, Any]:
    """Install (or update to) the ordered version; the receipt's evidence."""
    if update and order.package not in platform.app_versions().get(order.profile, {}):
        raise InstallFailedError(
            "not_installed", f"{order.package} is not installed on the {order.profile} side"
        )
    apk = await fetch_apk(client, state, order)
    try:
        refusal, version = platform.install_app(
            apk,
            package=order.package,
            profile=order.profile,
            allow_downgrade=order.allow_downgrade,
        )
    finally:
        apk.unlink(missing_ok=True)
    if refusal is not None:
        raise InstallFailedError(refusal.reason, refusal.message)
    return {
        "package": order.package,
        "profile": order.profile,
        "version_code": version,
        "sha256": order.sha256,
    }


def remove(platform: Platform, order: AppOrder) -> dict[str, Any]:
    """Remove the package from the ordered side; the receipt's evidence."""
    present = order.package in platform.app_versions().get(order.profile, {})
    if present:
        platform.remove_app(order.package, profile=order.profile)
    return {"package": order.package, "profile": order.profile, "was_installed": present}
