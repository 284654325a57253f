"""The import graph of Tabard's packages, read from the source with `ast` rather than by
importing anything: every `import` statement counts, at module level or inside a function or
an `if TYPE_CHECKING:` block, with relative imports resolved. An import of `a.b.c` also
depends on the packages `a` and `a.b`, whose `__init__` Python runs first."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("tabard", "mdm_server", "device_agent", "policies", "provisioning", "virtual_device")
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Import:
    """`source` imports `target` (a module of the graph, or the top-level name of a library)
    on `line`."""

    source: str
    target: str
    line: int

    @property
    def top(self) -> str:
        return self.target.split(".")[0]

    def __str__(self) -> str:
        return f"{self.source} (line {self.line}) imports {self.target}"


class ImportGraph:
    """Every module under `root` in `packages`, and what each imports."""

    def __init__(self, root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> None:
        self.modules: dict[str, Path] = {}
        for package in packages:
            for path in sorted((root / package).rglob("*.py")):
                parts = path.relative_to(root).with_suffix("").parts
                name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                self.modules[name] = path
        first: dict[tuple[str, str], Import] = {}
        for name in self.modules:
            for found in self._read(name):
                first.setdefault((found.source, found.target), found)
        self.imports = list(first.values())

    def _read(self, module: str) -> Iterator[Import]:
        path = self.modules[module]
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, package)
                names = [self._submodule_or(base, alias.name) for alias in node.names]
            else:
                continue
            for name in names:
                yield from self._edges(module, self._module_of(name), node.lineno)

    def _submodule_or(self, base: str, name: str) -> str:
        """`from base import name` names the submodule `base.name` if there is one."""
        return f"{base}.{name}" if f"{base}.{name}" in self.modules else base

    def _module_of(self, name: str) -> str:
        """The longest prefix of `name` that is a module of the graph, or its library's name."""
        candidate = name
        while candidate:
            if candidate in self.modules:
                return candidate
            candidate = candidate.rpartition(".")[0]
        return name.split(".")[0]

    def _edges(self, module: str, target: str, line: int) -> Iterator[Import]:
        if target != module:
            yield Import(module, target, line)
        parent = target.rpartition(".")[0]
        while parent in self.modules:
            # Python runs each enclosing package first, unless it is the importer's own (that
            # one is already running by the time the importer does).
            if module != parent and not module.startswith(parent + "."):
                yield Import(module, parent, line)
            parent = parent.rpartition(".")[0]

    def rings(self) -> list[Ring]:
        """Each set of modules that import one another (a strongly connected component of
        the graph), with the shortest cycle among them."""
        edges: dict[str, dict[str, Import]] = {module: {} for module in self.modules}
        for edge in self.imports:
            if edge.target in self.modules:
                edges[edge.source][edge.target] = edge
        graph = {module: set(targets) for module, targets in edges.items()}
        rings = []
        for component in _components(graph):
            cycles = (_shortest_cycle(start, component, edges) for start in sorted(component))
            rings.append(Ring(sorted(component), min(cycles, key=len)))
        return sorted(rings, key=lambda ring: ring.modules)

    def libraries(self, package: str) -> list[Import]:
        """The imports of `package`'s modules that leave the package, standard library aside:
        the first import of each other package or library, per module."""
        first: dict[tuple[str, str], Import] = {}
        for edge in self.imports:
            if (
                edge.source.split(".")[0] == package
                and edge.top != package
                and edge.top not in sys.stdlib_module_names
            ):
                first.setdefault((edge.source, edge.top), edge)
        return list(first.values())


@dataclass(frozen=True)
class Ring:
    """Modules that import one another, and one cycle of imports through some of them."""

    modules: list[str]
    cycle: list[Import]

    def __str__(self) -> str:
        lines = [f"{len(self.modules)} modules import one another: {', '.join(self.modules)}"]
        lines += [f"  {edge}" for edge in self.cycle]
        return "\n".join(lines)


def _shortest_cycle(
    start: str, component: set[str], edges: dict[str, dict[str, Import]]
) -> list[Import]:
    """The fewest imports leading from `start` back to it, staying inside `component`."""
    came_by: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target, edge in sorted(edges[module].items()):
                if target == start:
                    path = [edge]
                    while path[0].source != start:
                        path.insert(0, came_by[path[0].source])
                    return path
                if target in component and target not in came_by:
                    came_by[target] = edge
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is in no cycle")


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    anchor = parts[: len(parts) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


def _components(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components of more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
