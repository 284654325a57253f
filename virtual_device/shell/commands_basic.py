"""Everyday builtins: echo, ls, cat, rm, mkdir, getprop, settings, wm, input, svc and the small
text filters a pipe may end in. Outputs follow Android 7's toybox and mksh."""

from __future__ import annotations

import stat
import time

from virtual_device.fs import MESSAGES, FsError
from virtual_device.shell.registry import COMMANDS, Context, command

SHELL_IDS = (
    "uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),"
    "1015(sdcard_rw),1028(sdcard_r),3001(net_bt_admin),3002(net_bt),3003(inet),"
    "3006(net_bw_stats),3009(readproc) context=u:r:shell:s0"
)
SCREENS = {"SM-T580": ("1920x1200", "240")}
DEFAULT_SCREEN = ("720x1280", "320")


@command("true")
def _true(ctx: Context, args: list[str]) -> int:
    return 0


@command("false")
def _false(ctx: Context, args: list[str]) -> int:
    return 1


@command("sleep")
def _sleep(ctx: Context, args: list[str]) -> int:
    """Accepted and returns at once: a virtual device has no reason to make callers wait."""
    return 0


@command("echo")
def _echo(ctx: Context, args: list[str]) -> int:
    newline = True
    if args and args[0] == "-n":
        newline, args = False, args[1:]
    ctx.out(" ".join(args) + ("\n" if newline else ""))
    return 0


@command("id")
def _id(ctx: Context, args: list[str]) -> int:
    ctx.out(SHELL_IDS + "\n")
    return 0


@command("whoami")
def _whoami(ctx: Context, args: list[str]) -> int:
    ctx.out("shell\n")
    return 0


@command("which")
def _which(ctx: Context, args: list[str]) -> int:
    status = 0
    for name in args:
        if name in COMMANDS and not name.startswith("/"):
            ctx.out(f"/system/bin/{name}\n")
        elif ctx.device.fs.exists(f"/system/xbin/{name}"):
            ctx.out(f"/system/xbin/{name}\n")
        else:
            status = 1
    return status


def _error(ctx: Context, tool: str, path: str, error: FsError) -> int:
    return ctx.fail(f"{tool}: {path}: {MESSAGES.get(error.code, str(error))}")


def _long(name: str, node_mode: int, size: int, mtime: int, target: str = "") -> str:
    kind = "d" if stat.S_ISDIR(node_mode) else "l" if stat.S_ISLNK(node_mode) else "-"
    perms = stat.filemode(node_mode)[1:]
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(mtime))
    suffix = f" -> {target}" if target else ""
    return f"{kind}{perms} 1 shell shell {size:>8} {when} {name}{suffix}"


@command("ls")
def _ls(ctx: Context, args: list[str]) -> int:
    flags = {char for arg in args if arg.startswith("-") for char in arg[1:]}
    paths = [arg for arg in args if not arg.startswith("-")] or ["/"]
    status = 0
    for path in paths:
        try:
            node = ctx.device.fs.lookup(path, follow="l" not in flags)
            entries = ctx.device.fs.listdir(path) if node.is_dir else [(path, node)]
        except FsError as error:
            status = _error(ctx, "ls", path, error)
            continue
        if len(paths) > 1 and node.is_dir:
            ctx.out(f"{path}:\n")
        for name, child in entries:
            if name.startswith(".") and "a" not in flags:
                continue
            ctx.out(
                (
                    _long(name, child.mode, child.size, child.mtime, child.target)
                    if "l" in flags
                    else name
                )
                + "\n"
            )
    return status


@command("cat")
def _cat(ctx: Context, args: list[str]) -> int:
    if not args:
        ctx.out(ctx.stdin)
        return 0
    status = 0
    for path in args:
        try:
            ctx.out(ctx.device.fs.read(path))
        except FsError as error:
            status = _error(ctx, "cat", path, error)
    return status


@command("rm")
def _rm(ctx: Context, args: list[str]) -> int:
    flags = {char for arg in args if arg.startswith("-") for char in arg[1:]}
    status = 0
    for path in (arg for arg in args if not arg.startswith("-")):
        try:
            ctx.device.fs.remove(path, recursive="r" in flags or "R" in flags)
        except FsError as error:
            if error.code == 2 and "f" in flags:
                continue
            status = _error(ctx, "rm", path, error)
    return status


@command("mkdir")
def _mkdir(ctx: Context, args: list[str]) -> int:
    parents = "-p" in args
    status = 0
    for path in (arg for arg in args if not arg.startswith("-")):
        try:
            ctx.device.fs.mkdir(path, parents=parents, mtime=ctx.device.now())
        except FsError as error:
            status = ctx.fail(f"mkdir: '{path}': {MESSAGES.get(error.code, str(error))}")
    return status


@command("touch")
def _touch(ctx: Context, args: list[str]) -> int:
    status = 0
    for path in args:
        try:
            data = ctx.device.fs.read(path) if ctx.device.fs.exists(path) else b""
            ctx.device.fs.write(path, data, mode=0o644, mtime=ctx.device.now())
        except FsError as error:
            status = _error(ctx, "touch", path, error)
    return status


@command("grep")
def _grep(ctx: Context, args: list[str]) -> int:
    flags = {char for arg in args if arg.startswith("-") for char in arg[1:]}
    words = [arg for arg in args if not arg.startswith("-")]
    if not words:
        return ctx.fail("usage: grep [-civq] PATTERN [FILE]", 2)
    pattern = words[0].lower() if "i" in flags else words[0]
    text = ctx.stdin.decode(errors="replace")
    matches = [
        line
        for line in text.splitlines()
        if ((pattern in line.lower()) if "i" in flags else (pattern in line)) != ("v" in flags)
    ]
    if "c" in flags:
        ctx.out(f"{len(matches)}\n")
    elif "q" not in flags:
        ctx.out("".join(line + "\n" for line in matches))
    return 0 if matches else 1


def _count(args: list[str], default: int) -> int:
    for index, arg in enumerate(args):
        if arg == "-n" and index + 1 < len(args):
            return int(args[index + 1])
        if arg.startswith("-") and arg[1:].isdigit():
            return int(arg[1:])
    return default


@command("head")
def _head(ctx: Context, args: list[str]) -> int:
    lines = ctx.stdin.decode(errors="replace").splitlines(keepends=True)
    ctx.out("".join(lines[: _count(args, 10)]))
    return 0


@command("tail")
def _tail(ctx: Context, args: list[str]) -> int:
    lines = ctx.stdin.decode(errors="replace").splitlines(keepends=True)
    count = _count(args, 10)
    ctx.out("".join(lines[-count:] if count else []))
    return 0


@command("wc")
def _wc(ctx: Context, args: list[str]) -> int:
    text = ctx.stdin.decode(errors="replace")
    if "-l" in args:
        ctx.out(f"{text.count(chr(10))}\n")
    else:
        ctx.out(f"{text.count(chr(10))} {len(text.split())} {len(ctx.stdin)}\n")
    return 0


@command("getprop")
def _getprop(ctx: Context, args: list[str]) -> int:
    props = ctx.device.props
    if not args:
        ctx.out("".join(f"[{key}]: [{value}]\n" for key, value in sorted(props.items())))
    else:
        ctx.out(props.get(args[0], args[1] if len(args) > 1 else "") + "\n")
    return 0


@command("setprop")
def _setprop(ctx: Context, args: list[str]) -> int:
    if len(args) != 2:
        return ctx.fail("usage: setprop NAME VALUE")
    name, value = args
    if not (
        name.startswith("debug.") or name.startswith("log.") or name.startswith("persist.log.")
    ):
        return ctx.fail(f"setprop: failed to set property '{name}' to '{value}'")
    ctx.device.props[name] = value
    return 0


SETTINGS_USAGE = """usage:  settings [--user <USER_ID> | current] get namespace key
        settings [--user <USER_ID> | current] put namespace key value
        settings [--user <USER_ID> | current] delete namespace key
        settings [--user <USER_ID> | current] list namespace

'namespace' is one of {system, secure, global}, case-insensitive
If '--user <USER_ID> | current' is not given, the operations are performed on the system user.
"""


@command("settings")
def _settings(ctx: Context, args: list[str]) -> int:
    if len(args) >= 2 and args[0] == "--user":
        args = args[2:]
    if len(args) < 2 or args[1].lower() not in ("system", "secure", "global"):
        ctx.err(SETTINGS_USAGE)
        return 1
    verb, namespace, rest = args[0], args[1].lower(), args[2:]
    values = ctx.device.settings.setdefault(namespace, {})
    if verb == "get" and len(rest) == 1:
        ctx.out(values.get(rest[0], "null") + "\n")
    elif verb == "put" and len(rest) >= 2:
        ctx.device.put_setting(namespace, rest[0], rest[1])
    elif verb == "delete" and len(rest) == 1:
        ctx.out(f"Deleted {1 if values.pop(rest[0], None) is not None else 0} rows\n")
    elif verb == "list" and not rest:
        ctx.out("".join(f"{key}={value}\n" for key, value in sorted(values.items())))
    else:
        ctx.err(SETTINGS_USAGE)
        return 1
    return 0


# The mounts `df` knows: the device node, size and use of /system are fixed (a J5's, roughly);
# /data's come from the model, so `df /data` agrees with what `pm install` checks.
_SYSTEM_MOUNT = ("/dev/block/mmcblk0p20", 3_600_000, 3_250_000)
_DATA_DEVICE = "/dev/block/mmcblk0p24"


def _df_row(device: str, total_k: int, used_k: int, mount: str) -> str:
    available = max(0, total_k - used_k)
    percent = -(-used_k * 100 // total_k) if total_k else 0
    return f"{device:<21} {total_k:>9} {used_k:>9} {available:>9} {percent:>3}% {mount}\n"


@command("df")
def _df(ctx: Context, args: list[str]) -> int:
    """toybox `df` (Android 7+): 1K blocks, used, available and use per mount."""
    data_total = ctx.device.data_total // 1024
    data_row = _df_row(_DATA_DEVICE, data_total, data_total - ctx.device.data_free // 1024, "/data")
    system_row = _df_row(_SYSTEM_MOUNT[0], *_SYSTEM_MOUNT[1:], "/system")
    out = "Filesystem            1K-blocks      Used Available Use% Mounted on\n"
    paths = [a for a in args if not a.startswith("-")]
    if not paths:
        ctx.out(out + system_row + data_row)
        return 0
    status = 0
    for path in paths:
        if path == "/data" or path.startswith("/data/"):
            out += data_row
        elif path.startswith("/system") or path == "/":
            out += system_row
        else:
            ctx.err(f"df: {path}: No such file or directory\n")
            status = 1
    ctx.out(out)
    return status


@command("wm")
def _wm(ctx: Context, args: list[str]) -> int:
    size, density = SCREENS.get(ctx.device.getprop("ro.product.model"), DEFAULT_SCREEN)
    if args[:1] == ["size"]:
        ctx.out(f"Physical size: {size}\n")
    elif args[:1] == ["density"]:
        ctx.out(f"Physical density: {density}\n")
    else:
        return ctx.fail("usage: wm [subcommand] [options]\n       wm size [reset|WxH|WdpxHdp]")
    return 0


# KEYCODE_POWER (with the screen on, as a device being managed has it) and KEYCODE_SLEEP.
_SCREEN_OFF_KEYS = {"26", "KEYCODE_POWER", "223", "KEYCODE_SLEEP"}


@command("input")
def _input(ctx: Context, args: list[str]) -> int:
    if args[:1] == ["keyevent"] and set(args[1:]) & _SCREEN_OFF_KEYS:
        ctx.device.screen_off()
        return 0
    if args and args[0] in ("text", "keyevent", "tap", "swipe", "press", "roll"):
        return 0
    return ctx.fail("Usage: input [<source>] <command> [<arg>...]")


@command("svc")
def _svc(ctx: Context, args: list[str]) -> int:
    if len(args) >= 2 and args[0] == "wifi" and args[1] in ("enable", "disable"):
        ctx.device.put_setting("global", "wifi_on", "1" if args[1] == "enable" else "0")
        return 0
    if len(args) >= 2 and args[0] in ("power", "data", "usb", "nfc", "bluetooth"):
        if args[:2] == ["power", "stayon"] and len(args) > 2:
            value = {"true": "7", "false": "0", "usb": "2", "ac": "1", "wireless": "4"}
            ctx.device.put_setting("global", "stay_on_while_plugged_in", value.get(args[2], "0"))
        return 0
    return ctx.fail(
        "Available commands:\n    help\n    power\n    data\n    wifi\n    usb\n    nfc"
    )


@command("reboot")
def _reboot(ctx: Context, args: list[str]) -> int:
    ctx.device.reboot()
    return 0
