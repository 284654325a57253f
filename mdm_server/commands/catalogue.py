"""What each command type is: its time to live, whether a second administrator must approve
it, whether it needs a reason, and the parameters it takes. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mdm_server.auth.roles import Role, role_name
from mdm_server.errors import InvalidRequestError, quoted


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LockDeviceParams(NoParams):
    message: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


# An Android package name: dot-separated Java identifiers (PackageParser.validateName).
PACKAGE_NAME = r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$"
PackageName = Annotated[str, StringConstraints(pattern=PACKAGE_NAME, max_length=255)]


class RemoveAppParams(NoParams):
    package: PackageName
    profile: Literal["work", "personal"] = "work"


class InstallAppParams(RemoveAppParams):
    """The version to install, named by its APK's digest and size: the agent refuses a
    download that is not exactly this file."""

    version_code: Annotated[int, Field(ge=1)]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    size: Annotated[int, Field(ge=1)]
    allow_downgrade: bool = False


@dataclass(frozen=True)
class CommandKind:
    name: str
    summary: str
    ttl: timedelta | None  # None: never expires; only cancelling ends it early
    two_person: bool = False  # waits in pending_approval for a second it_admin
    needs_reason: bool = False
    params: type[NoParams] = NoParams


SECOND_APPROVAL = f"Needs a second {role_name(Role.it_admin).one}'s approval."
KINDS: dict[str, CommandKind] = {
    kind.name: kind
    for kind in (
        CommandKind(
            "lock_device", "Lock the screen now.", timedelta(hours=24), params=LockDeviceParams
        ),
        CommandKind("lock_secure_side", "Lock the secure side now.", timedelta(hours=24)),
        CommandKind(
            "wipe_secure_side",
            "Crypto-shred the secure side: the server destroys the container key at once; the "
            "device deletes the container and the work profile.",
            None,
            needs_reason=True,
        ),
        CommandKind(
            "wipe_device",
            f"Factory reset. {SECOND_APPROVAL}",
            None,
            two_person=True,
            needs_reason=True,
        ),
        CommandKind(
            "reset_passcode",
            "Remove the screen lock so the officer sets a new one.",
            timedelta(hours=24),
            needs_reason=True,
        ),
        CommandKind(
            "clear_pin_lockout",
            "Clear the device's offline secure-side PIN lockout.",
            timedelta(hours=24),
        ),
        CommandKind(
            "sync_policy", "Fetch and apply the policy again, then report.", timedelta(hours=24)
        ),
        CommandKind("request_posture", "Report posture now.", timedelta(hours=1)),
        CommandKind(
            "locate", "Report the device's location.", timedelta(hours=1), needs_reason=True
        ),
        CommandKind(
            "retire",
            "Take the device out of service: secure side wiped, management removed, "
            f"certificates revoked. {SECOND_APPROVAL}",
            None,
            two_person=True,
            needs_reason=True,
        ),
        CommandKind(
            "install_app",
            "Install an app from the catalogue (or update it to this version).",
            timedelta(days=7),
            params=InstallAppParams,
        ),
        CommandKind(
            "update_app",
            "Update an installed app to this catalogue version; a device without it is left alone.",
            timedelta(days=7),
            params=InstallAppParams,
        ),
        CommandKind(
            "remove_app",
            "Uninstall an app from one side.",
            timedelta(days=7),
            params=RemoveAppParams,
        ),
    )
}


def kind_of(name: str) -> CommandKind:
    kind = KINDS.get(name)
    if kind is None:
        raise InvalidRequestError(
            f"unknown command type {quoted(name)}; use one of: {', '.join(KINDS)}",
            code="unknown_command_type",
        )
    return kind


def validate_params(kind: CommandKind, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters, checked against the type's model, or a 400 naming the bad one."""
    try:
        return kind.params.model_validate(params).model_dump(exclude_none=True)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'params'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidRequestError(
            f"{kind.name} parameters: {problems}", code="invalid_command_params"
        ) from None
