"""What a builtin command sees (Context), the table builtins register in (COMMANDS), and
`exit`, whose Exit the interpreter catches. The command modules register here and the
interpreter runs what is registered, so neither they nor this module import the interpreter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from virtual_device.model import VirtualDevice


class Exit(Exception):  # noqa: N818 - control flow for the `exit` builtin, not an error
    def __init__(self, code: int) -> None:
        self.code = code


@dataclass
class Context:
    """What a command sees: the device, its arguments' stdin, and where to write."""

    device: VirtualDevice
    status: int  # the last command line's exit status, as `$?` reads it
    stdin: bytes = b""
    chunks: list[tuple[int, bytes]] = field(default_factory=list)

    def out(self, text: str | bytes) -> None:
        self.chunks.append((1, text.encode() if isinstance(text, str) else text))

    def err(self, text: str | bytes) -> None:
        self.chunks.append((2, text.encode() if isinstance(text, str) else text))

    def fail(self, text: str, code: int = 1) -> int:
        self.err(text if text.endswith("\n") else text + "\n")
        return code


Builtin = Callable[[Context, list[str]], int]
COMMANDS: dict[str, Builtin] = {}


def command(*names: str) -> Callable[[Builtin], Builtin]:
    """Register a builtin under its names (and its /system/bin path)."""

    def register(function: Builtin) -> Builtin:
        for name in names:
            COMMANDS[name] = function
            COMMANDS[f"/system/bin/{name}"] = function
        return function

    return register


@command("exit")
def _exit(ctx: Context, args: list[str]) -> int:
    raise Exit(int(args[0]) if args and args[0].isdigit() else ctx.status)
