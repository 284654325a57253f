"""`dpm` and `dumpsys device_policy`: device and profile owners with Android 7's outputs and
refusals (AOSP frameworks/base/cmds/dpm, DevicePolicyManagerService, android-7.1.2_r1)."""

from __future__ import annotations

from virtual_device.android import Component
from virtual_device.shell.dumpsys_package import dumpsys_package
from virtual_device.shell.registry import Context, command

DPM_USAGE = """usage: dpm [subcommand] [options]
usage: dpm set-active-admin [ --user <USER_ID> | current ] <COMPONENT>
usage: dpm set-device-owner [ --user <USER_ID> | current *EXPERIMENTAL* ] [ --name <NAME> ] <COMPONENT>
usage: dpm set-profile-owner [ --user <USER_ID> | current ] [ --name <NAME> ] <COMPONENT>
usage: dpm remove-active-admin [ --user <USER_ID> | current ] [ --name <NAME> ] <COMPONENT>

dpm set-active-admin: Sets the given component as active admin for an existing user.

dpm set-device-owner: Sets the given component as active admin, and its package as device owner.

dpm set-profile-owner: Sets the given component as active admin and profile owner for an existing user.

dpm remove-active-admin: Disables an active admin, the admin must have declared android:testOnly in the application in its manifest. This will also remove device and profile owners
"""
# An uncaught exception in app_process: the trace goes to stderr, and the status is 255.
EXCEPTION_STATUS = 255


def _throw(ctx: Context, exception: str, message: str, method: str) -> int:
    ctx.err(
        f"java.lang.{exception}: {message}\n"
        "\tat android.os.Parcel.readException(Parcel.java:1701)\n"
        "\tat android.os.Parcel.readException(Parcel.java:1646)\n"
        f"\tat android.app.admin.IDevicePolicyManager$Stub$Proxy.{method}"
        "(IDevicePolicyManager.java:5237)\n"
        "\tat com.android.commands.dpm.Dpm.onRun(Dpm.java:82)\n"
        "\tat com.android.internal.os.BaseCommand.run(BaseCommand.java:51)\n"
        "\tat com.android.commands.dpm.Dpm.main(Dpm.java:38)\n"
        "\tat com.android.internal.os.RuntimeInit.nativeFinishInit(Native Method)\n"
        "\tat com.android.internal.os.RuntimeInit.main(RuntimeInit.java:251)\n"
    )
    return EXCEPTION_STATUS


def _usage_error(ctx: Context, message: str) -> int:
    ctx.err(DPM_USAGE + f"\nError: {message}\n")
    return 1


def _parse(ctx: Context, args: list[str]) -> tuple[int, str, Component | None, str | None]:
    user, name, rest = 0, "", []
    items = iter(args)
    for arg in items:
        if arg == "--user":
            value = next(items, "0")
            user = 0 if value == "current" else int(value) if value.isdigit() else -1
        elif arg == "--name":
            name = next(items, "")
        else:
            rest.append(arg)
    if len(rest) != 1:
        return user, name, None, "Must provide a component name"
    try:
        return user, name, Component.parse(rest[0]), None
    except ValueError:
        return user, name, None, f"Invalid component {rest[0]}"


def _set_device_owner(ctx: Context, args: list[str]) -> int:
    user, name, component, problem = _parse(ctx, args)
    if component is None:
        return _usage_error(ctx, problem or "Must provide a component name")
    if not ctx.device.has_admin_receiver(component, user):
        return _usage_error(ctx, f"Unknown admin: {component.info}")
    refusal = ctx.device.device_owner_refusal()
    if refusal is not None:
        return _throw(ctx, "IllegalStateException", refusal, "setDeviceOwner")
    ctx.device.device_owner = component
    ctx.device.device_owner_name = name
    ctx.out(
        f"Success: Device owner set to package {component.info}\n"
        f"Active admin set to component {{{component.flat}}}\n"
    )
    return 0


def _set_profile_owner(ctx: Context, args: list[str]) -> int:
    user, _, component, problem = _parse(ctx, args)
    if component is None:
        return _usage_error(ctx, problem or "Must provide a component name")
    device = ctx.device
    if user not in device.users:
        return _throw(
            ctx,
            "IllegalArgumentException",
            f"Attempted to set profile owner for invalid userId: {user}",
            "setProfileOwner",
        )
    if not device.has_admin_receiver(component, user):
        return _usage_error(ctx, f"Unknown admin: {component.info}")
    if user in device.profile_owners:
        return _throw(
            ctx,
            "IllegalStateException",
            "Trying to set the profile owner, but profile owner is already set.",
            "setProfileOwner",
        )
    if device.device_owner is not None and user == 0:
        return _throw(
            ctx,
            "IllegalStateException",
            "Trying to set the profile owner, but the user already has a device owner.",
            "setProfileOwner",
        )
    if user == 0 and device.accounts:
        return _throw(
            ctx,
            "IllegalStateException",
            "Not allowed to set the profile owner because there are already some "
            "accounts on the profile",
            "setProfileOwner",
        )
    device.profile_owners[user] = component
    ctx.out(
        f"Success: Active admin and profile owner set to {{{component.flat}}} for user {user}\n"
    )
    return 0


@command("dpm")
def _dpm(ctx: Context, args: list[str]) -> int:
    if not args:
        ctx.err(DPM_USAGE)
        return 1
    if args[0] == "set-device-owner":
        return _set_device_owner(ctx, args[1:])
    if args[0] == "set-profile-owner":
        return _set_profile_owner(ctx, args[1:])
    return _usage_error(ctx, f"unknown command '{args[0]}'")


def _short(component: Component) -> str:
    """ComponentName.flattenToShortString: `pkg/.Rcv` when the class is in the package."""
    prefix = component.package + "."
    cls = (
        component.cls[len(component.package) :]
        if component.cls.startswith(prefix)
        else component.cls
    )
    return f"{component.package}/{cls}"


def _device_policy(ctx: Context) -> str:
    device = ctx.device
    lines = ["Current Device Policy Manager state:"]
    if device.device_owner is not None:
        owner = device.device_owner
        lines += [
            "  Device Owner: ",
            f"    admin={owner.info}",
            f"    name={device.device_owner_name}",
            f"    package={owner.package}",
            "    User ID: 0",
            "",
        ]
    for user, owner in sorted(device.profile_owners.items()):
        lines += [
            f"  Profile Owner (User {user}): ",
            f"    admin={owner.info}",
            "    name=",
            f"    package={owner.package}",
            "",
        ]
    admins = {0: device.device_owner} if device.device_owner else {}
    admins.update(device.profile_owners)
    for user, owner in sorted(admins.items()):
        package = device.packages.get(owner.package)
        lines += [
            f"  Enabled Device Admins (User {user}, provisioningState: 3):",
            f"    {_short(owner)}:",
            f"      uid={package.uid if package else 10000}",
            "      policies:",
            "        wipe-data",
            "      passwordQuality=0x0",
            "      disableCamera=false",
            "      disableScreenCapture=false",
            "",
        ]
    return "\n".join(lines) + "\n"


def _accounts(ctx: Context) -> str:
    """`dumpsys account` (AccountManagerService.dump, Android 7): accounts per user; the model
    keeps them as `type:name`, all on the owner."""
    device = ctx.device
    lines = []
    for user_id in sorted(device.users):
        user = device.users[user_id]
        accounts = device.accounts if user_id == 0 else []
        lines += [
            f"User UserInfo{{{user.id}:{user.name}:{user.flags:x}}}:",
            f"  Accounts: {len(accounts)}",
        ]
        for account in accounts:
            kind, _, name = account.partition(":")
            lines.append(f"    Account {{name={name}, type={kind}}}")
        lines += ["", "  Active Sessions: 0", ""]
    return "\n".join(lines) + "\n"


@command("dumpsys")
def _dumpsys(ctx: Context, args: list[str]) -> int:
    if args[:1] == ["device_policy"]:
        ctx.out(_device_policy(ctx))
        return 0
    if args[:1] == ["account"]:
        ctx.out(_accounts(ctx))
        return 0
    if args[:1] == ["package"]:
        names = [arg for arg in args[1:] if not arg.startswith("-")]
        ctx.out(dumpsys_package(ctx.device, names[0] if names else None))
        return 0
    if not args:
        ctx.out("Currently running services:\n  account\n  device_policy\n  package\n  user\n")
        return 0
    ctx.out(f"Can't find service: {args[0]}\n")
    return 0
