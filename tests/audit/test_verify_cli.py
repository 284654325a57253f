"""`tabard audit verify` and `tabard audit checkpoint` as an operator runs them on the server
host, against a real database on each backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdm_server.audit import checkpoints
from mdm_server.config import Settings
from mdm_server.crypto.keystore import KeyStore
from mdm_server.db import Database
from tabard.cli import app as cli
from tests.audit.log import tamper, write_events


@pytest.fixture
def runner(
    committed_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    url = committed_database.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("TABARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TABARD_DATABASE_URL", url)
    return CliRunner()


def test_checkpoint_then_verify_then_tamper(
    runner: CliRunner, committed_database: Database, tmp_path: Path
) -> None:
    write_events(committed_database, 20)
    signed = runner.invoke(cli, ["audit", "checkpoint", "--json"])
    assert signed.exit_code == 0, signed.output
    assert json.loads(signed.stdout)["size"] == 20
    settings = Settings()  # as the command read it from the environment
    signer = checkpoints.load_signer(KeyStore(settings.keys_dir), settings)
    assert signer.verifier().open(json.loads(signed.stdout)["note"]).size == 20

    clean = runner.invoke(cli, ["audit", "verify"])
    assert clean.exit_code == 0, clean.output
    assert "verifies: 20 events, 1 signed checkpoints" in clean.output

    tamper(committed_database, "DELETE FROM audit_events WHERE seq = 13")
    broken = runner.invoke(cli, ["audit", "verify", "--json"])
    assert broken.exit_code == 1
    report = json.loads(broken.stdout)
    assert (report["ok"], report["first_bad_seq"]) == (False, 13)
    assert "first bad sequence number: 13" in runner.invoke(cli, ["audit", "verify"]).output

    refused = runner.invoke(cli, ["audit", "checkpoint"])
    assert refused.exit_code == 0  # the deleted event's leaf is still in the tree: roots agree
    tamper(committed_database, "DELETE FROM audit_tree_nodes WHERE level > 0")
    refused = runner.invoke(cli, ["audit", "checkpoint"])
    assert refused.exit_code == 1
    assert "refused to sign" in refused.output
