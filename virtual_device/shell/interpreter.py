"""Running command lines against a device: builtins, pipes, redirections, `$?`.

Output keeps stdout and stderr apart, in order, so shell v2 can send them on their own
channels and shell v1 can merge them as adbd's v1 service does."""

from __future__ import annotations

from dataclasses import dataclass, field

from virtual_device.fs import MESSAGES, FsError
from virtual_device.model import VirtualDevice

# The builtins register themselves in COMMANDS on import.
from virtual_device.shell import commands_am, commands_basic, commands_dpm, commands_pm  # noqa: F401
from virtual_device.shell.parser import Command, Segment, ShellSyntaxError, parse
from virtual_device.shell.registry import COMMANDS, Context, Exit

SH = "/system/bin/sh"
ENVIRONMENT = {
    "HOME": "/",
    "PATH": "/sbin:/system/sbin:/system/bin:/system/xbin:/vendor/bin:/vendor/xbin",
    "USER": "shell",
    "SHELL": SH,
    "ANDROID_ROOT": "/system",
    "EXTERNAL_STORAGE": "/sdcard",
}


@dataclass
class ShellResult:
    chunks: list[tuple[int, bytes]] = field(default_factory=list)
    exit_code: int = 0

    @property
    def stdout(self) -> bytes:
        return b"".join(data for fd, data in self.chunks if fd == 1)

    @property
    def stderr(self) -> bytes:
        return b"".join(data for fd, data in self.chunks if fd == 2)

    @property
    def merged(self) -> bytes:
        """Both streams in the order written, as shell v1 delivers them."""
        return b"".join(data for _, data in self.chunks)


class Shell:
    """One shell session on a device (state: the last exit status)."""

    def __init__(self, device: VirtualDevice) -> None:
        self.device = device
        self.status = 0

    def run(self, line: str, stdin: bytes = b"") -> ShellResult:
        result = ShellResult()
        try:
            steps = parse(line)
        except ShellSyntaxError as error:
            self.status = 2
            return ShellResult([(2, f"{SH}: {error}\n".encode())], 2)
        try:
            for step in steps:
                if step.connector == "&&" and self.status != 0:
                    continue
                if step.connector == "||" and self.status == 0:
                    continue
                self.status = self._pipeline(step.pipeline.commands, stdin, result)
        except Exit as done:
            self.status = done.code
        result.exit_code = self.status
        return result

    def _pipeline(self, commands: list[Command], stdin: bytes, result: ShellResult) -> int:
        data = stdin
        status = 0
        for index, cmd in enumerate(commands):
            last = index == len(commands) - 1
            chunks: list[tuple[int, bytes]] = []
            status = self._command(cmd, data, chunks)
            if last:
                result.chunks.extend(chunks)
            else:
                data = b"".join(d for fd, d in chunks if fd == 1)
                result.chunks.extend((fd, d) for fd, d in chunks if fd == 2)
        return status

    def expand(self, word: list[Segment]) -> str:
        parts = []
        for kind, value in word:
            if kind == "text":
                parts.append(value)
            elif value == "?":
                parts.append(str(self.status))
            elif value == "$":
                parts.append("4321")
            elif value == "#":
                parts.append("0")
            else:
                parts.append(ENVIRONMENT.get(value, ""))
        return "".join(parts)

    def _command(self, cmd: Command, stdin: bytes, sink: list[tuple[int, bytes]]) -> int:
        args = [self.expand(word) for word in cmd.words]
        routes: dict[int, object] = {1: 1, 2: 2}
        files: dict[str, bool] = {}
        for redirect in cmd.redirects:
            target = self.expand(redirect.target)
            if redirect.op == ">&":
                routes[redirect.fd] = (
                    routes.get(int(target), int(target)) if target.isdigit() else 1
                )
            elif redirect.op == "<":
                try:
                    stdin = self.device.fs.read(target)
                except FsError as error:
                    sink.append((2, f"{SH}: can't open {target}: {error}\n".encode()))
                    return 1
            elif target == "/dev/null":
                routes[redirect.fd] = None
            else:
                routes[redirect.fd] = target
                files[target] = redirect.op == ">>"
        for path, append in files.items():
            try:
                existing = (
                    self.device.fs.read(path) if append and self.device.fs.exists(path) else b""
                )
                self.device.fs.write(path, existing, mode=0o644, mtime=self.device.now())
            except FsError as error:
                sink.append(
                    (2, f"{SH}: can't create {path}: {MESSAGES.get(error.code)}\n".encode())
                )
                return 1
        if not args:
            return 0
        context = Context(device=self.device, status=self.status, stdin=stdin)
        builtin = COMMANDS.get(args[0])
        if builtin is None:
            context.err(f"{SH}: {args[0]}: not found\n")
            status = 127
        else:
            with self.device.lock:
                status = builtin(context, args[1:])
        for fd, data in context.chunks:
            route = routes.get(fd, fd)
            if route is None:
                continue
            if isinstance(route, str):
                current = self.device.fs.read(route)
                self.device.fs.write(route, current + data, mode=0o644, mtime=self.device.now())
            else:
                sink.append((int(route), data))  # type: ignore[call-overload]
        return status
