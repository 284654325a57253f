"""Policy documents as people write them: YAML (or JSON, which is YAML) text, read strictly,
with every problem placed on its line."""

from __future__ import annotations

from typing import Any

import yaml

MAX_POLICY_BYTES = 512 * 1024
# A policy nests four or five levels. Past this the text is not a policy, and deeper nesting
# would exhaust Python's stack in the parser (a 1 KB document can nest hundreds of levels).
MAX_DEPTH = 32
# Values once aliases are expanded: a few anchors can otherwise stand for billions of values.
MAX_VALUES = 100_000


class PolicySourceError(ValueError):
    """The text is not a YAML document; `line` and `column` count from 1 where known."""

    def __init__(self, problem: str, *, line: int | None = None, column: int | None = None):
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(f"{where}{problem}")
        self.problem = problem
        self.line = line
        self.column = column


class _Refused(yaml.MarkedYAMLError):
    """YAML that parses, but that the reader will not take as a policy."""

    def __init__(self, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (PyYAML would keep the last),
    nesting deeper than MAX_DEPTH, and aliases that expand past MAX_VALUES values. Each is
    refused while the text is composed, before anything deep is built, at its line."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        # id(node) -> (levels below and including it, values it stands for with aliases expanded)
        self._shapes: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self._depth >= MAX_DEPTH:
            raise _Refused(
                f"nested more than {MAX_DEPTH} levels deep; a policy needs only a few",
                self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._measure(node)
        return node

    def _measure(self, node: yaml.Node) -> None:
        """Refuse a node whose aliases make it too deep or too large once expanded. Children
        are measured first, and an alias is the node it names, so each is measured once."""
        if id(node) in self._shapes:
            return
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        shapes = [self._shapes[id(child)] for child in children]
        height = 1 + max((levels for levels, _ in shapes), default=0)
        values = 1 + sum(count for _, count in shapes)
        if height > MAX_DEPTH:
            raise _Refused(
                f"its aliases nest it more than {MAX_DEPTH} levels deep", node.start_mark
            )
        if values > MAX_VALUES:
            raise _Refused(
                f"it holds more than {MAX_VALUES:,} values, counting each alias as all it names; "
                "a policy holds a few hundred",
                node.start_mark,
            )
        self._shapes[id(node)] = (height, values)


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            repeated = key in seen
        except TypeError:  # a list or mapping as a key
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "a key must be a plain value, not a list or a mapping",
                key_node.start_mark,
            ) from None
        if repeated:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key} is given twice in the same mapping", key_node.start_mark
            )
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load(text: str) -> Any:
    """The parsed document, or PolicySourceError saying where the text goes wrong."""
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise PolicySourceError(f"larger than {MAX_POLICY_BYTES // 1024} KiB; is it a policy?")
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        refused = isinstance(exc, _Refused)
        problem = str(exc.problem) if refused else f"not valid YAML: {exc.problem}"
        if mark is None:
            raise PolicySourceError(problem) from None
        raise PolicySourceError(problem, line=mark.line + 1, column=mark.column + 1) from None
    except yaml.YAMLError as exc:
        raise PolicySourceError(f"not valid YAML: {exc}") from None


def lines_of(text: str, paths: list[str]) -> list[int | None]:
    """The line (from 1) of each dotted path in the YAML text, as near as it exists; the
    text is composed once for all of them."""
    try:
        root = yaml.compose(text, Loader=_StrictLoader)
    except yaml.YAMLError:
        return [None] * len(paths)
    return [_line(root, path) for path in paths]


def _line(node: Any, path: str) -> int | None:
    line = None
    for part in path.split("."):
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if found is None:
                break
            key, node = found
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line
