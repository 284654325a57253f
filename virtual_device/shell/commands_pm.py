"""`pm` (and `cmd package`): packages and users, with Android 7's outputs
(AOSP frameworks/base/cmds/pm and services PackageManagerShellCommand, android-7.1.2_r1)."""

from __future__ import annotations

from virtual_device.android import Package
from virtual_device.apk import ApkError, ApkInfo, read_apk
from virtual_device.fs import FsError
from virtual_device.shell.registry import Context, command

OREO_SDK = 26


class _Args:
    """`pm` options: `--user N` may come anywhere before the positional arguments."""

    def __init__(self, ctx: Context, args: list[str]) -> None:
        self.flags: set[str] = set()
        self.user: int | None = None
        self.all_users = False
        self.positional: list[str] = []
        self.options: dict[str, str] = {}
        items = iter(args)
        for arg in items:
            if arg == "--user":
                value = next(items, "")
                if value == "all":
                    self.all_users = True
                else:
                    self.user = 0 if value == "current" else int(value) if value.isdigit() else -1
            elif arg in ("--profileOf", "-i", "--name", "-S"):
                self.options[arg] = next(items, "")
            elif arg.startswith("-") and len(arg) > 1:
                self.flags.add(arg)
            else:
                self.positional.append(arg)

    def package_and_user(self) -> tuple[str, int] | None:
        """The package the command names and the user it acts for (the owner by default)."""
        if not self.positional:
            return None
        return self.positional[0], self.user if self.user is not None else 0


def _user_line(ctx: Context, user_id: int) -> str:
    user = ctx.device.users[user_id]
    running = " running" if user.running else ""
    return f"\tUserInfo{{{user.id}:{user.name}:{user.flags:x}}}{running}\n"


def _list(ctx: Context, args: list[str]) -> int:
    if not args:
        return ctx.fail("Error: didn't specify type of data to list")
    kind, rest = args[0], _Args(ctx, args[1:])
    if kind == "users":
        ctx.out("Users:\n" + "".join(_user_line(ctx, uid) for uid in sorted(ctx.device.users)))
        return 0
    if kind != "packages":
        return ctx.fail(f"Error: unknown list type '{kind}'")
    return _list_packages(ctx, rest)


def _list_packages(ctx: Context, rest: _Args) -> int:
    """`pm list packages`, as PackageManagerShellCommand.runListPackages prints it.
    `--show-versioncode` (` versionCode:N` after each name) arrived with `-U` and `--uid` in
    Android 8.0's runListPackages; 7.x has no such option, and an option runListPackages does
    not know gets its default branch, `Error: Unknown option: OPT` on stdout and status -1
    (255). Source: AOSP PackageManagerShellCommand (8.0 and later, read); the 7.x answer
    assumes the same default branch and has not been seen on a 7.x handset."""
    show_version = "--show-versioncode" in rest.flags
    if show_version and ctx.device.sdk < OREO_SDK:
        ctx.out("Error: Unknown option: --show-versioncode\n")
        return 255
    user = rest.user if rest.user is not None else 0
    if user not in ctx.device.users:
        return ctx.fail(f"Error: user {user} does not exist")
    states = ctx.device.installs.get(user, {})
    names = sorted(ctx.device.packages) if "-u" in rest.flags else sorted(states)
    pattern = rest.positional[0] if rest.positional else ""
    for name in names:
        package = ctx.device.packages[name]
        state = states.get(name)
        enabled = state is None or state.enabled
        if ("-d" in rest.flags and enabled) or ("-e" in rest.flags and not enabled):
            continue
        if ("-s" in rest.flags and not package.system) or ("-3" in rest.flags and package.system):
            continue
        if pattern and pattern not in name:
            continue
        line = f"package:{package.path}={name}" if "-f" in rest.flags else f"package:{name}"
        if show_version:
            line += f" versionCode:{package.version_code}"
        ctx.out(line + "\n")
    return 0


def _path(ctx: Context, args: list[str]) -> int:
    target = _Args(ctx, args).package_and_user()
    if target is None:
        return ctx.fail("Error: package name not specified")
    name, user = target
    if not ctx.device.is_installed(name, user):
        return 1
    ctx.out(f"package:{ctx.device.packages[name].path}\n")
    return 0


def _apk_bytes(ctx: Context, parsed: _Args) -> tuple[bytes, str] | None:
    """The APK `pm install` was given and the path Android names it by: a file, or with
    `-S SIZE` and no file, that many bytes from stdin (how `adb install` streams an APK to
    `cmd package install` on Android 7+, AOSP adb/client/adb_install.cpp)."""
    size = parsed.options.get("-S")
    if size is not None and not parsed.positional:
        if not size.isdigit() or len(ctx.stdin) < int(size):
            ctx.err("Error: failed to read the APK from stdin\n")
            return None
        session = 1000 + len(ctx.device.packages)
        return ctx.stdin[: int(size)], f"/data/app/vmdl{session}.tmp/base.apk"
    if not parsed.positional:
        ctx.err("Error: must specify APK file\n")
        return None
    path = parsed.positional[-1]
    try:
        return ctx.device.fs.read(path), path
    except FsError:
        ctx.err(
            f"Error: Unable to open file: {path}\nConsider using a file under /data/local/tmp/\n"
        )
        return None


def _downgrade_permitted(ctx: Context, installed: Package | None, parsed: _Args) -> bool:
    """Whether Android 7 to 9 lets an install replace `installed` with an older version: only
    when asked (`-d`), and only if the installed app is a debug build or the device's build is
    debuggable (`ro.debuggable=1`). A release app on a user build, as a police phone runs, is
    never downgraded with its data kept. Source: AOSP frameworks/base 921dd75 "Disallow
    downgrading of non-debuggable packages" (Android 7.0), PackageManagerService
    isDowngradePermitted."""
    if "-d" not in parsed.flags:
        return False
    debuggable_build = ctx.device.getprop("ro.debuggable") == "1"
    return debuggable_build or (installed is not None and installed.debuggable)


def install_refusal(ctx: Context, info: ApkInfo, size: int, path: str, parsed: _Args) -> str | None:
    """Why Android 7-9 would refuse to install this APK, in `Failure [...]`'s words, in the
    order PackageManagerService meets them: space and downgrade when the session is copied
    (InstallParams.handleStartCopy / installLocationPolicy), then the SDK when the package is
    parsed, then replacing and signatures (installPackageLI, android-7.1.2 / 9.0)."""
    device = ctx.device
    existing = device.packages.get(info.package)
    if not device.fits_on_data(size, replacing=info.package):
        return "INSTALL_FAILED_INSUFFICIENT_STORAGE"
    downgrade = existing is not None and info.version_code < existing.version_code
    if downgrade and not _downgrade_permitted(ctx, existing, parsed):
        return "INSTALL_FAILED_VERSION_DOWNGRADE"
    if info.min_sdk > device.sdk:
        return (
            f"INSTALL_FAILED_OLDER_SDK: Failed parse during installPackageLI: {path} (at Binary "
            f"XML file line #1): Requires newer sdk version #{info.min_sdk} (current version is "
            f"#{device.sdk})"
        )
    if existing is None:
        return None
    # `cmd package install` (streamed) replaces by default; `pm install FILE` on 7.x needs -r.
    if "-r" not in parsed.flags and parsed.options.get("-S") is None:
        return (
            f"INSTALL_FAILED_ALREADY_EXISTS: Attempt to re-install {info.package} "
            "without first uninstalling."
        )
    # A package put on the device in code, not from an APK, has no signer to compare.
    signed = not existing.system and existing.signer_sha256
    if signed and existing.signer_sha256 != info.signer_sha256:
        return (
            f"INSTALL_FAILED_UPDATE_INCOMPATIBLE: Package {info.package} signatures do not "
            "match the previously installed version; ignoring!"
        )
    return None


def _install(ctx: Context, args: list[str]) -> int:
    parsed = _Args(ctx, args)
    given = _apk_bytes(ctx, parsed)
    if given is None:
        return 1
    data, path = given
    try:
        info = read_apk(data, sdk=ctx.device.sdk)
    except ApkError as error:
        ctx.out(error.failure(path) + "\n")
        return 1
    users = [parsed.user] if parsed.user is not None else sorted(ctx.device.users)
    with ctx.device.lock:  # checked and installed as one step: nothing half-installed
        refusal = install_refusal(ctx, info, len(data), path, parsed)
        if refusal is None and any(user not in ctx.device.users for user in users):
            refusal = "INSTALL_FAILED_USER_RESTRICTED"
        if refusal is not None:
            ctx.out(f"Failure [{refusal}]\n")
            return 1
        ctx.device.install(Package.from_apk(info, len(data)), users=users)
    ctx.out("Success\n")
    return 0


def _install_existing(ctx: Context, args: list[str]) -> int:
    target = _Args(ctx, args).package_and_user()
    if target is None:
        return ctx.fail("Error: package name not specified")
    name, user = target
    if not ctx.device.install_existing(name, user):
        ctx.out(
            f"android.content.pm.PackageManager$NameNotFoundException: "
            f"Package {name} doesn't exist\n"
        )
        return 1
    ctx.out(f"Package {name} installed for user: {user}\n")
    return 0


def _uninstall(ctx: Context, args: list[str]) -> int:
    parsed = _Args(ctx, args)
    if not parsed.positional:
        return ctx.fail("Error: package name not specified")
    name = parsed.positional[0]
    package = ctx.device.packages.get(name)
    installed = package is not None and (
        ctx.device.is_installed(name, parsed.user)
        if parsed.user is not None
        else any(name in pkgs for pkgs in ctx.device.installs.values())
    )
    if not installed or package is None or (package.system and parsed.user is None):
        ctx.out("Failure [DELETE_FAILED_INTERNAL_ERROR]\n")
        return 1
    if ctx.device.owns_device_policy(name):
        ctx.out("Failure [DELETE_FAILED_DEVICE_POLICY_MANAGER]\n")
        return 1
    ctx.device.uninstall(name, user_id=parsed.user)
    ctx.out("Success\n")
    return 0


def _set_enabled(ctx: Context, args: list[str], *, enabled: bool) -> int:
    target = _Args(ctx, args).package_and_user()
    if target is None:
        return ctx.fail("Error: no package or component specified")
    name, user = target
    if not ctx.device.set_enabled(name, user, enabled):
        return ctx.fail(f"Error: java.lang.IllegalArgumentException: Unknown package: {name}")
    ctx.out(f"Package {name} new state: {'enabled' if enabled else 'disabled-user'}\n")
    return 0


def _set_hidden(ctx: Context, args: list[str], *, hidden: bool) -> int:
    target = _Args(ctx, args).package_and_user()
    if target is None:
        return ctx.fail("Error: no package or component specified")
    name, user = target
    state = ctx.device.installs.get(user, {}).get(name)
    changed = state is not None
    if state is not None:
        state.hidden = hidden
    ctx.out(f"Package {name} new hidden state: {str(hidden if changed else False).lower()}\n")
    return 0


def _create_user(ctx: Context, args: list[str]) -> int:
    parsed = _Args(ctx, args)
    if not parsed.positional:
        return ctx.fail("Error: user name not specified")
    name = parsed.positional[0]
    parent = parsed.options.get("--profileOf")
    if "--managed" in parsed.flags and parent is not None and parent.isdigit():
        profile = ctx.device.create_managed_profile(parent=int(parent), name=name)
        if profile is not None:
            ctx.out(f"Success: created user id {profile.id}\n")
            return 0
    ctx.err("Error: couldn't create User.\n")
    return 1


def _remove_user(ctx: Context, args: list[str]) -> int:
    if not args or not args[0].isdigit():
        return ctx.fail("Error: user id not specified")
    if ctx.device.remove_user(int(args[0])):
        ctx.out("Success: removed user\n")
        return 0
    ctx.err(f"Error: couldn't remove user id {args[0]}\n")
    return 1


def _disable_by_shell(ctx: Context, args: list[str]) -> int:
    name = args[-1] if args else ""
    return ctx.fail(
        f"Error: java.lang.SecurityException: Shell cannot change component state "
        f"for {name}/null to 2"
    )


_SUBCOMMANDS = {
    "list": _list,
    "path": _path,
    "install": _install,
    "install-existing": _install_existing,
    "uninstall": _uninstall,
    "enable": lambda ctx, args: _set_enabled(ctx, args, enabled=True),
    "disable-user": lambda ctx, args: _set_enabled(ctx, args, enabled=False),
    "disable": _disable_by_shell,
    "hide": lambda ctx, args: _set_hidden(ctx, args, hidden=True),
    "unhide": lambda ctx, args: _set_hidden(ctx, args, hidden=False),
    "create-user": _create_user,
    "remove-user": _remove_user,
}


@command("pm")
def _pm(ctx: Context, args: list[str]) -> int:
    if not args:
        return ctx.fail(
            "usage: pm list packages [-f] [-d] [-e] [-s] [-3] [-u] [--user USER_ID] "
            "[FILTER]\n       pm install [-r] [-t] [-d] [--user USER_ID] PATH"
        )
    handler = _SUBCOMMANDS.get(args[0])
    if handler is None:
        return ctx.fail(f"Unknown command: {args[0]}")
    return handler(ctx, args[1:])


@command("cmd")
def _cmd(ctx: Context, args: list[str]) -> int:
    if args[:1] == ["package"]:
        return _pm(ctx, args[1:])
    if not args:
        return ctx.fail("cmd: no service specified; use -l to list all services")
    return ctx.fail(f"Can't find service: {args[0]}")
