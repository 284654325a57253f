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
from tests.audit.log import ORIGIN, checkpoint, fixed_signer, tamper, write_events


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


SERVER_URL = "https://mdm.example.police.uk"
SERVER_ORIGIN = "mdm.example.police.uk/audit"


def sign_as_the_server(database: Database, data_dir: Path) -> None:
    """A checkpoint as `tabard serve` signs it, with the server's TABARD_PUBLIC_URL."""
    settings = Settings(data_dir=data_dir, public_url=SERVER_URL)
    signer = checkpoints.load_signer(KeyStore(settings.keys_dir), settings)
    assert signer.name == SERVER_ORIGIN
    checkpoint(database, data_dir, signer)


class TestTheLogsOrigin:
    """On the server host the command has the data directory and database, but not the
    server's TABARD_PUBLIC_URL: it reads the origin off the log's own signed checkpoints."""

    @pytest.fixture(autouse=True)
    def no_public_url(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("TABARD_PUBLIC_URL", raising=False)
        monkeypatch.delenv("TABARD_AUDIT_ORIGIN", raising=False)

    def test_verify_and_checkpoint_find_the_origin_without_the_public_url(
        self, runner: CliRunner, committed_database: Database, tmp_path: Path
    ) -> None:
        write_events(committed_database, 12)
        sign_as_the_server(committed_database, tmp_path / "data")

        checked = runner.invoke(cli, ["audit", "verify"])
        assert checked.exit_code == 0, checked.output
        assert f"Log origin: {SERVER_ORIGIN}" in checked.output

        write_events(committed_database, 5, start=12)
        signed = runner.invoke(cli, ["audit", "checkpoint", "--json"])
        assert signed.exit_code == 0, signed.output
        note = json.loads(signed.stdout)["note"]
        assert note.startswith(f"{SERVER_ORIGIN}\n17\n")
        report = json.loads(runner.invoke(cli, ["audit", "verify", "--json"]).stdout)
        assert (report["ok"], report["checkpoints_checked"], report["origin"]) == (
            True,
            2,
            SERVER_ORIGIN,
        )

    def test_a_wrong_audit_origin_setting_is_named_with_the_right_one(
        self,
        runner: CliRunner,
        committed_database: Database,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        write_events(committed_database, 4)
        sign_as_the_server(committed_database, tmp_path / "data")
        monkeypatch.setenv("TABARD_AUDIT_ORIGIN", "elsewhere.example/audit")
        refused = runner.invoke(cli, ["audit", "verify"])
        assert refused.exit_code == 1
        assert f"set TABARD_AUDIT_ORIGIN={SERVER_ORIGIN}" in " ".join(refused.output.split())

    def test_checkpoints_by_another_key_say_what_to_check_and_set(
        self, runner: CliRunner, committed_database: Database, tmp_path: Path
    ) -> None:
        write_events(committed_database, 4)
        checkpoint(committed_database, tmp_path / "data", fixed_signer())  # not this dir's key
        refused = runner.invoke(cli, ["audit", "verify"])
        assert refused.exit_code == 1
        said = " ".join(refused.output.split())
        assert f"signed as {ORIGIN}, but not by this data directory's checkpoint key" in said
        assert "check that TABARD_DATA_DIR names the server's data directory" in said
        assert "Traceback" not in refused.output

    def test_a_log_whose_origin_cannot_be_read_says_what_to_set(
        self, runner: CliRunner, committed_database: Database, tmp_path: Path
    ) -> None:
        write_events(committed_database, 4)
        sign_as_the_server(committed_database, tmp_path / "data")
        published = tmp_path / "data" / checkpoints.PUBLISHED
        published.write_text(published.read_text().split("\n\n")[0] + "\n")  # signature gone
        tamper(committed_database, "UPDATE audit_checkpoints SET note = 'unsigned'")
        refused = runner.invoke(cli, ["audit", "verify"])
        assert refused.exit_code == 1
        said = " ".join(refused.output.split())
        assert "set TABARD_AUDIT_ORIGIN, or TABARD_PUBLIC_URL, as the server has it" in said
