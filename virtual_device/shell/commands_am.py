"""`am`: users started and stopped, broadcasts (kept on the device, which is how the
enrolment payload reaches the Tabard agent), with Android 7's outputs."""

from __future__ import annotations

from virtual_device.android import Broadcast
from virtual_device.shell.registry import Context, command

MASTER_CLEAR = "android.intent.action.MASTER_CLEAR"
# Intent flag the am command adds to broadcasts it sends (FLAG_RECEIVER_FOREGROUND).
BROADCAST_FLAGS = "0x400000"


def _start_user(ctx: Context, args: list[str]) -> int:
    if args and args[0].isdigit() and ctx.device.set_user_running(int(args[0]), True):
        ctx.out("Success: user started\n")
        return 0
    ctx.err("Error: could not start user\n")
    return 1


def _stop_user(ctx: Context, args: list[str]) -> int:
    ids = [arg for arg in args if not arg.startswith("-")]
    if not ids or not ids[0].isdigit():
        return ctx.fail("Error: user id not specified")
    user = int(ids[0])
    if user == 0:
        return ctx.fail("Switch failed: -3 (System user cannot be stopped)")
    if not ctx.device.set_user_running(user, False):
        return ctx.fail(f"Switch failed: -1 (Unknown user {user})")
    return 0


def _intent(args: list[str]) -> tuple[str, str | None, str | None, dict[str, str], int]:
    action, component, package, extras, user = "", None, None, {}, 0
    items = iter(args)
    for arg in items:
        if arg == "-a":
            action = next(items, "")
        elif arg == "-n":
            component = next(items, "")
        elif arg == "-p":
            package = next(items, "")
        elif arg in ("--es", "--ei", "--ez", "--el"):
            key = next(items, "")
            extras[key] = next(items, "")
        elif arg == "--user":
            value = next(items, "0")
            user = int(value) if value.isdigit() else 0
        elif arg == "-f":
            next(items, "")
    return action, component, package, extras, user


def _describe(
    action: str, component: str | None, package: str | None, extras: dict[str, str]
) -> str:
    parts = [f"act={action}"] if action else []
    parts.append(f"flg={BROADCAST_FLAGS}")
    if package:
        parts.append(f"pkg={package}")
    if component:
        parts.append(f"cmp={component}")
    if extras:
        parts.append("(has extras)")
    return "Intent { " + " ".join(parts) + " }"


def _broadcast(ctx: Context, args: list[str]) -> int:
    action, component, package, extras, user = _intent(args)
    ctx.out(f"Broadcasting: {_describe(action, component, package, extras)}\n")
    if action == MASTER_CLEAR:
        ctx.err(
            f"java.lang.SecurityException: Permission Denial: not allowed to send broadcast "
            f"{MASTER_CLEAR} from pid=4321, uid=2000\n"
        )
        return 255
    ctx.device.record_broadcast(
        Broadcast(action=action, component=component, extras=extras, user=user)
    )
    ctx.out("Broadcast completed: result=0\n")
    return 0


@command("am")
def _am(ctx: Context, args: list[str]) -> int:
    verb, rest = (args[0], args[1:]) if args else ("", [])
    if verb == "start-user":
        return _start_user(ctx, rest)
    if verb == "stop-user":
        return _stop_user(ctx, rest)
    if verb == "broadcast":
        return _broadcast(ctx, rest)
    if verb == "force-stop":
        return 0
    if verb == "start":
        action, component, package, extras, _ = _intent(rest)
        ctx.out(f"Starting: {_describe(action, component, package, extras)}\n")
        return 0
    return ctx.fail("usage: am [subcommand] [options]")
