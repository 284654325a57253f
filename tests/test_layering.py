"""DESIGN.md's rooms: the server and the agent meet only over HTTP, each room imports only what
the design allows it, and every import between modules runs one way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.import_graph import ImportGraph


def _loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return {name.split(".")[0] for name in result.stdout.split()}


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("mdm_server.main", {"device_agent", "virtual_device", "provisioning"}),
        ("device_agent.enrolment", {"mdm_server", "sqlalchemy", "sqlmodel", "fastapi"}),
        ("device_agent.checkin", {"mdm_server", "sqlalchemy", "sqlmodel", "fastapi"}),
        ("device_agent.cli_reports", {"mdm_server", "sqlalchemy", "sqlmodel", "fastapi"}),
        ("virtual_device", {"mdm_server", "device_agent", "sqlalchemy", "fastapi", "httpx"}),
        ("policies", {"sqlmodel", "sqlalchemy", "fastapi", "httpx", "adb_shell"}),
    ],
)
def test_a_room_does_not_import_what_it_must_not(module: str, forbidden: set[str]) -> None:
    assert _loaded_after_import(module) & forbidden == set()


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return ImportGraph()


def test_no_modules_import_one_another_in_a_ring(graph: ImportGraph) -> None:
    """Every dependency between Tabard's modules runs one way: a shared type or table goes to
    a module both sides import, and what one side needs of the other is a Protocol. Imports
    inside functions or under TYPE_CHECKING count, so hiding one does not pass."""
    rings = graph.rings()
    assert not rings, "\n".join(map(str, rings))


# What each room may import besides the standard library and itself (DESIGN.md's packages).
ONLY = {
    "policies": {"pydantic", "pydantic_core"},
    "virtual_device": {"cryptography"},
}
NEVER = {
    "mdm_server": {"device_agent", "virtual_device", "provisioning"},
    "device_agent": {"mdm_server", "provisioning"},
}
# A room's `cli` modules are the `tabard` program's face on it and may also use its libraries.
CLI_LIBRARIES = {"typer", "rich", "tabard"}


@pytest.mark.parametrize("package", sorted(ONLY.keys() | NEVER.keys()))
def test_a_room_imports_only_what_design_allows(graph: ImportGraph, package: str) -> None:
    refused = []
    for edge in graph.libraries(package):
        cli = "cli" in edge.source.split(".")
        if package in ONLY:
            allowed = ONLY[package] | (CLI_LIBRARIES if cli else set())
            if edge.top not in allowed:
                refused.append(edge)
        elif edge.top in NEVER[package]:
            refused.append(edge)
    assert not refused, "\n".join(map(str, refused))


class TestImportGraph:
    """The graph the two tests above read is the one Python would follow."""

    @staticmethod
    def _graph(tmp_path: Path, files: dict[str, str]) -> ImportGraph:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return ImportGraph(tmp_path, ["pkg"])

    def test_finds_a_ring_closed_by_an_import_inside_a_function(self, tmp_path: Path) -> None:
        graph = self._graph(
            tmp_path,
            {
                "pkg/__init__.py": "",
                "pkg/a.py": "from pkg.b import B\n",
                "pkg/b.py": "class B:\n    def f(self):\n        from . import a\n",
            },
        )
        (ring,) = graph.rings()
        assert ring.modules == ["pkg.a", "pkg.b"]
        assert [str(edge) for edge in ring.cycle] == [
            "pkg.a (line 1) imports pkg.b",
            "pkg.b (line 3) imports pkg.a",
        ]

    def test_finds_a_ring_hidden_behind_type_checking(self, tmp_path: Path) -> None:
        graph = self._graph(
            tmp_path,
            {
                "pkg/__init__.py": "",
                "pkg/a.py": "from pkg import b\n",
                "pkg/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    from .a import A\n",
            },
        )
        assert [ring.modules for ring in graph.rings()] == [["pkg.a", "pkg.b"]]

    def test_finds_a_ring_through_a_package_that_imports_its_modules(self, tmp_path: Path) -> None:
        graph = self._graph(
            tmp_path,
            {
                "pkg/__init__.py": "",
                "pkg/sub/__init__.py": "def install():\n    from pkg.sub.pages import P\n",
                "pkg/sub/pages.py": "from pkg.context import C\n",
                "pkg/sub/sessions.py": "",
                "pkg/context.py": "from pkg.sub import sessions\n",
            },
        )
        (ring,) = graph.rings()
        assert [str(edge) for edge in ring.cycle] == [
            "pkg.context (line 1) imports pkg.sub",
            "pkg.sub (line 2) imports pkg.sub.pages",
            "pkg.sub.pages (line 1) imports pkg.context",
        ]

    def test_a_package_importing_its_own_modules_is_no_ring(self, tmp_path: Path) -> None:
        graph = self._graph(
            tmp_path,
            {
                "pkg/__init__.py": "from pkg.a import A\nfrom pkg.b import B\n",
                "pkg/a.py": "from .b import B\nclass A: ...\n",
                "pkg/b.py": "import json\nimport yaml.constructor\nclass B: ...\n",
            },
        )
        assert graph.rings() == []
        assert [str(edge) for edge in graph.libraries("pkg")] == ["pkg.b (line 2) imports yaml"]
