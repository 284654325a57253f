"""Policy documents as people write them: YAML (or JSON, which is YAML) text, read strictly,
with every problem placed on its line."""

from __future__ import annotations

from typing import Any

import yaml

MAX_POLICY_BYTES = 512 * 1024


class PolicySourceError(ValueError):
    """The text is not a YAML document; `line` and `column` count from 1 where known."""

    def __init__(self, problem: str, *, line: int | None = None, column: int | None = None):
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(f"{where}{problem}")
        self.problem = problem
        self.line = line
        self.column = column


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (PyYAML would keep the last)."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"{key!r} is given twice in the same mapping", mark
            )
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load(text: str) -> Any:
    """The parsed document, or PolicySourceError saying where the text goes wrong."""
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise PolicySourceError(f"larger than {MAX_POLICY_BYTES // 1024} KiB; is it a policy?")
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        problem = f"not valid YAML: {exc.problem}"
        if mark is None:
            raise PolicySourceError(problem) from None
        raise PolicySourceError(problem, line=mark.line + 1, column=mark.column + 1) from None
    except yaml.YAMLError as exc:
        raise PolicySourceError(f"not valid YAML: {exc}") from None


def lines_of(text: str, paths: list[str]) -> list[int | None]:
    """The line (from 1) of each dotted path in the YAML text, as near as it exists; the
    text is composed once for all of them."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
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
