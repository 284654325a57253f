from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from tests.factories.adb import make_signer
from virtual_device.host import DeviceHost


@pytest.fixture(scope="session")
def signer(tmp_path_factory: pytest.TempPathFactory) -> PythonRSASigner:
    return make_signer(tmp_path_factory.mktemp("adbkey"))


@pytest.fixture(scope="session")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> PythonRSASigner:
    """A second host key the devices have never seen."""
    return make_signer(tmp_path_factory.mktemp("stranger"))


@pytest.fixture
def host() -> Iterator[DeviceHost]:
    with DeviceHost() as running:
        yield running


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path
