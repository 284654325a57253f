"""Parsing a shell command line: the subset of mksh that provisioning and adb send.

Supported: words with single and double quotes and backslash escapes; `$?`, `$$`, `$NAME`
and `${NAME}`; the list operators `;`, `&&`, `||` and newlines; pipes; redirections
`[n]>file`, `[n]>>file`, `[n]>&m` and `<file`; `#` comments. Anything else (command
substitution, background jobs, subshells, control flow) is refused with a clear error rather
than run wrongly."""

from __future__ import annotations

from dataclasses import dataclass, field

# A word is made of literal text and variable references, expanded when the command runs,
# so that `$?` sees the status of the command just before it.
Segment = tuple[str, str]  # ("text", "abc") or ("var", "?")


class ShellSyntaxError(Exception):
    """The line cannot be run; the message is what mksh would print after `sh: `."""


@dataclass
class Redirect:
    fd: int
    op: str  # ">", ">>", "<", ">&"
    target: list[Segment]


@dataclass
class Command:
    words: list[list[Segment]] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Pipeline:
    commands: list[Command]


@dataclass
class Step:
    connector: str  # ";", "&&" or "||": how this step depends on the previous one
    pipeline: Pipeline


_VAR_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_VAR_CHARS = _VAR_START | set("0123456789")
_UNSUPPORTED = {
    "`": "command substitution",
    "(": "subshells",
    ")": "subshells",
    "{": "command groups",
    "}": "command groups",
}


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def tokens(self) -> list[tuple[str, object]]:
        out: list[tuple[str, object]] = []
        while self.pos < len(self.text):
            char = self.peek()
            if char in " \t":
                self.pos += 1
            elif char == "#":
                while self.pos < len(self.text) and self.peek() != "\n":
                    self.pos += 1
            elif char == "\n" or char == ";":
                out.append(("op", ";"))
                self.pos += 1
            elif char == "&":
                if self.peek(1) == "&":
                    out.append(("op", "&&"))
                    self.pos += 2
                else:
                    raise ShellSyntaxError("&: background jobs are not supported here")
            elif char == "|":
                if self.peek(1) == "|":
                    out.append(("op", "||"))
                    self.pos += 2
                else:
                    out.append(("op", "|"))
                    self.pos += 1
            elif char in _UNSUPPORTED:
                raise ShellSyntaxError(f"{char}: {_UNSUPPORTED[char]} are not supported here")
            elif char in "<>" or (char.isdigit() and self._redirect_ahead()):
                out.append(("redirect", self._redirect()))
            else:
                out.append(("word", self._word()))
        return out

    def _redirect_ahead(self) -> bool:
        index = self.pos
        while index < len(self.text) and self.text[index].isdigit():
            index += 1
        return index < len(self.text) and self.text[index] in "<>"

    def _redirect(self) -> Redirect:
        digits = ""
        while self.peek().isdigit():
            digits += self.peek()
            self.pos += 1
        char = self.peek()
        self.pos += 1
        if char == "<":
            op, fd = "<", int(digits or 0)
        elif self.peek() == ">":
            self.pos += 1
            op, fd = ">>", int(digits or 1)
        elif self.peek() == "&":
            self.pos += 1
            op, fd = ">&", int(digits or 1)
        else:
            op, fd = ">", int(digits or 1)
        while self.peek() in " \t":
            self.pos += 1
        if not self.peek() or self.peek() in ";&|<>\n":
            raise ShellSyntaxError("syntax error: redirection without a target")
        return Redirect(fd=fd, op=op, target=self._word())

    def _word(self) -> list[Segment]:
        segments: list[Segment] = []
        text = ""
        while self.pos < len(self.text):
            char = self.peek()
            if char in " \t\n;&|<>":
                break
            if char in _UNSUPPORTED:
                raise ShellSyntaxError(f"{char}: {_UNSUPPORTED[char]} are not supported here")
            if char == "'":
                end = self.text.find("'", self.pos + 1)
                if end < 0:
                    raise ShellSyntaxError("syntax error: unterminated quoted string")
                text += self.text[self.pos + 1 : end]
                self.pos = end + 1
            elif char == '"':
                self.pos += 1
                text, segments = self._double_quoted(text, segments)
            elif char == "\\":
                text += self.peek(1)
                self.pos += 2
            elif char == "$":
                text = self._dollar(text, segments)
            else:
                text += char
                self.pos += 1
        if text or not segments:
            segments.append(("text", text))
        return segments

    def _double_quoted(self, text: str, segments: list[Segment]) -> tuple[str, list[Segment]]:
        while True:
            char = self.peek()
            if not char:
                raise ShellSyntaxError("syntax error: unterminated quoted string")
            if char == '"':
                self.pos += 1
                return text, segments
            if char == "\\" and self.peek(1) in '$`"\\\n':
                text += self.peek(1)
                self.pos += 2
            elif char == "`":
                raise ShellSyntaxError("`: command substitution is not supported here")
            elif char == "$":
                text = self._dollar(text, segments)
            else:
                text += char
                self.pos += 1

    def _dollar(self, text: str, segments: list[Segment]) -> str:
        """Handle a `$`: a variable ends the literal text so far; a lone `$` is literal."""
        variable = self._variable()
        if variable is None:
            return text + "$"
        if text:
            segments.append(("text", text))
        segments.append(("var", variable))
        return ""

    def _variable(self) -> str | None:
        nxt = self.peek(1)
        if nxt in ("?", "$", "#"):
            self.pos += 2
            return nxt
        if nxt == "(":
            raise ShellSyntaxError("$(: command substitution is not supported here")
        if nxt == "{":
            end = self.text.find("}", self.pos)
            if end < 0:
                raise ShellSyntaxError("syntax error: bad substitution")
            name = self.text[self.pos + 2 : end]
            self.pos = end + 1
            return name
        if nxt in _VAR_START:
            self.pos += 1
            name = ""
            while self.peek() in _VAR_CHARS and self.peek():
                name += self.peek()
                self.pos += 1
            return name
        return None


def parse(text: str) -> list[Step]:
    """A command line as steps to run in order."""
    steps: list[Step] = []
    connector = ";"
    commands: list[Command] = []
    current = Command()

    def end_command() -> None:
        nonlocal current
        if not current.words and not current.redirects:
            raise ShellSyntaxError("syntax error: a command is missing")
        commands.append(current)
        current = Command()

    for kind, value in _Lexer(text).tokens():
        if kind == "word":
            current.words.append(value)  # type: ignore[arg-type]
        elif kind == "redirect":
            current.redirects.append(value)  # type: ignore[arg-type]
        elif value == "|":
            end_command()
        else:
            if not current.words and not current.redirects and not commands:
                if value == ";":
                    continue
                raise ShellSyntaxError(f"syntax error: '{value}' unexpected")
            end_command()
            steps.append(Step(connector, Pipeline(commands)))
            commands = []
            connector = str(value)
    if current.words or current.redirects:
        end_command()
    if commands:
        steps.append(Step(connector, Pipeline(commands)))
    elif connector in ("&&", "||") and steps:
        raise ShellSyntaxError(f"syntax error: '{connector}' needs a command after it")
    return steps
