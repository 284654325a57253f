"""Evidential bundles: exported by an auditor over the API, checked with nothing but the bundle,
and refused after any single-byte change."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import tracemalloc
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mdm_server.audit import bundle
from mdm_server.audit.service import Actor, record
from mdm_server.db import Database
from tabard.cli import app as cli
from tests.audit.log import NOW, checkpoint_app, fixed_signer
from tests.factories.staff import headers_for
from tests.support import audit_events

DAY = {"from": "2026-11-21T00:00:00Z", "to": "2026-11-22T00:00:00Z"}


def write_searches(database: Database, count: int) -> dict[str, list[int]]:
    """Searches by three officers on two devices; the seqs each officer's searches got."""
    officers = ["1001", "1002", "1003"]
    with database.unit_of_work() as session:
        for n in range(count):
            collar = officers[n % 3]
            record(
                session,
                actor=Actor(type="staff", id=f"u{collar}", name=f"pc{collar}", role="officer"),
                action="transaction.person_search",
                now=NOW + timedelta(minutes=n),
                target_type="device",
                target_id=f"dev-{n % 2}",
                detail={
                    "type": "person_search",
                    "purpose": "INV",
                    "collar_number": collar,
                    "device_id": f"dev-{n % 2}",
                    "subject": {"surname": f"Name{n}"},
                },
            )
    seqs: dict[str, list[int]] = {c: [] for c in officers}
    for event in audit_events(database):
        if event.action == "transaction.person_search":
            seqs[event.detail["collar_number"]].append(event.seq)
    return seqs


@pytest.fixture
def auditor(app: FastAPI) -> dict[str, str]:
    return headers_for(app, "auditor")


@pytest.fixture
def exported(
    app: FastAPI, client: TestClient, database: Database, auditor: dict[str, str]
) -> tuple[bytes, list[int]]:
    write_searches(database, 12)
    checkpoint_app(app)
    seqs = write_searches(database, 3)  # after the checkpoint: the export signs a newer one
    response = client.get(
        "/api/v1/audit/export", params={**DAY, "officer": "1002"}, headers=auditor
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return response.content, seqs["1002"]


def test_a_bundle_verifies_alone_and_holds_exactly_the_query(
    app: FastAPI, database: Database, exported: tuple[bytes, list[int]]
) -> None:
    data, expected = exported
    verified = bundle.verify(data)
    assert verified.seqs == expected and len(expected) == 5
    assert verified.query["officer"] == "1002"
    assert verified.verifier_key == app.state.context.audit_signer.verifier_key()
    assert verified.latest_size >= verified.checkpoint_size >= max(expected)
    (audited,) = [e for e in audit_events(database) if e.action == "audit.exported"]
    assert (audited.actor_role, audited.detail["events"]) == ("auditor", 5)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_any_single_byte_change_fails(
    exported: tuple[bytes, list[int]], data: st.DataObject
) -> None:
    original, _ = exported
    changed = bytearray(original)
    at = data.draw(st.integers(0, len(original) - 1))
    changed[at] ^= data.draw(st.integers(1, 255))
    with pytest.raises(bundle.BundleError):
        bundle.verify(bytes(changed))


def test_a_damaged_zip_version_is_refused_as_unreadable(
    exported: tuple[bytes, list[int]],
) -> None:
    """One flipped byte can make a directory entry ask for a zip version Python cannot read."""
    original, _ = exported
    changed = bytearray(original)
    entry = changed.index(b"PK\x01\x02")  # the first central directory entry
    changed[entry + 6] = 84  # "version needed to extract": 8.4
    with pytest.raises(bundle.BundleError, match="not a readable zip"):
        bundle.verify(bytes(changed))


def test_a_damaged_encryption_flag_is_refused_as_unreadable(
    exported: tuple[bytes, list[int]],
) -> None:
    """One flipped bit can mark a directory entry encrypted, which zipfile will not open."""
    original, _ = exported
    changed = bytearray(original)
    entry = changed.index(b"PK\x01\x02")
    changed[entry + 8] |= 1  # general purpose flag bit 0: encrypted
    with pytest.raises(bundle.BundleError, match="not a readable zip"):
        bundle.verify(bytes(changed))


def test_a_bundle_rebuilt_around_a_forged_event_fails(exported: tuple[bytes, list[int]]) -> None:
    """Someone without the log's key edits an event and re-seals with their own."""
    original, _ = exported
    with zipfile.ZipFile(io.BytesIO(original)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    first, *rest = files["events.jsonl"].decode().splitlines()
    entry = json.loads(first)
    canonical = base64.b64decode(entry["canonical"]).replace(b"Name", b"Nane")
    entry["canonical"] = base64.b64encode(canonical).decode()
    files["events.jsonl"] = "".join(f"{line}\n" for line in [json.dumps(entry), *rest]).encode()
    forger = fixed_signer()
    files["verifier-key.txt"] = (forger.verifier_key() + "\n").encode()
    files["bundle.note"] = forger.sign_text(bundle._seal_text(files)).encode()
    with pytest.raises(bundle.BundleError, match="signature"):
        bundle.verify(bundle._zip(files))


def test_the_recipient_can_insist_on_the_published_key(
    exported: tuple[bytes, list[int]],
) -> None:
    data, _ = exported
    with pytest.raises(bundle.BundleError, match="another key"):
        bundle.verify(data, verifier_key=fixed_signer().verifier_key())


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"from": "2026-11-22T00:00:00Z", "to": "2026-11-21T00:00:00Z"}, 400, "after"),
        ({"to": "2026-11-21T00:00:00Z"}, 422, "from"),
        ({"from": "2026-11-21T00:00:00", "to": "2026-11-22T00:00:00Z"}, 400, "time zone"),
        ({**DAY, "officer": "x" * 17}, 422, "officer"),
    ],
)
def test_bad_queries_say_what_to_fix(
    client: TestClient, auditor: dict[str, str], params: dict[str, str], status: int, says: str
) -> None:
    response = client.get("/api/v1/audit/export", params=params, headers=auditor)
    assert response.status_code == status, response.text
    assert says in str(response.json()["detail"])


def test_only_auditors_export(app: FastAPI, client: TestClient) -> None:
    for role in ("it_admin", "supervisor", "officer"):
        response = client.get("/api/v1/audit/export", params=DAY, headers=headers_for(app, role))
        assert response.status_code == 403, role


def test_verify_bundle_from_the_command_line(
    exported: tuple[bytes, list[int]], tmp_path: Path
) -> None:
    data, _ = exported
    good = tmp_path / "good.zip"
    good.write_bytes(data)
    result = CliRunner().invoke(cli, ["audit", "verify-bundle", str(good)])
    assert result.exit_code == 0, result.output
    assert "5 events" in result.output
    bad = tmp_path / "bad.zip"
    bad.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    result = CliRunner().invoke(cli, ["audit", "verify-bundle", str(bad)])
    assert result.exit_code == 1
    assert "does not verify" in result.output
    missing = CliRunner().invoke(cli, ["audit", "verify-bundle", str(tmp_path / "none.zip")])
    assert missing.exit_code == 1
    assert "cannot read" in missing.output


ZEROS = 300 * 1024 * 1024  # what the probe's 308 KB bundle held


def zip_bomb(path: Path, *, events_bytes: int = ZEROS) -> Path:
    """A bundle's member names, with events.jsonl 300 MB of zeros deflated to a few hundred
    KB, written in pieces so the test itself never holds it."""
    with zipfile.ZipFile(path, "w") as archive:
        for name in (*bundle.MEMBERS, bundle.SEAL):
            info = zipfile.ZipInfo(name, date_time=bundle.ZIP_TIME)
            if name == "events.jsonl":
                info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                if name == "events.jsonl":
                    for _ in range(events_bytes // (1 << 20)):
                        member.write(bytes(1 << 20))
                else:
                    member.write(b"{}\n")
    return path


# Peak resident memory from the kernel's own count for this process image (VmHWM), not
# ru_maxrss, which Linux carries over from the parent across fork and exec.
MAXRSS = """
import sys
from pathlib import Path
from tabard.cli import main
sys.argv = ["tabard", "audit", "verify-bundle", sys.argv[1]]
try:
    main()
    code = 0
except SystemExit as exit:
    code = exit.code or 0
status = Path("/proc/self/status").read_text()
peak = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
print(code, peak, file=sys.stderr)
"""


def verify_in_a_process(path: Path) -> tuple[int, int, str]:
    """Exit code, peak resident memory (KiB) and output of `tabard audit verify-bundle`."""
    done = subprocess.run(
        [sys.executable, "-c", MAXRSS, str(path)], capture_output=True, text=True, check=False
    )
    *said, last = done.stderr.strip().splitlines()
    code, maxrss = last.split()
    return int(code), int(maxrss), done.stdout + "\n".join(said)


class TestUntrustedBundles:
    """A bundle is untrusted bytes from outside: reading it costs what a genuine one would."""

    def test_a_zip_bomb_is_refused_without_inflating_it(self, tmp_path: Path) -> None:
        bomb = zip_bomb(tmp_path / "bomb.zip")
        assert bomb.stat().st_size < 1024 * 1024
        tracemalloc.start()
        try:
            with pytest.raises(bundle.BundleError, match="compressed") as refused:
                bundle.verify(bomb)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert "events.jsonl is compressed" in str(refused.value)
        assert "refused without inflating it" in str(refused.value)
        assert peak < 4 * 1024 * 1024

    def test_the_command_line_refuses_a_bomb_in_bounded_memory(
        self, exported: tuple[bytes, list[int]], tmp_path: Path
    ) -> None:
        genuine = tmp_path / "genuine.zip"
        genuine.write_bytes(exported[0])
        code, baseline_kib, _ = verify_in_a_process(genuine)
        assert code == 0
        code, bomb_kib, output = verify_in_a_process(zip_bomb(tmp_path / "bomb.zip"))
        # The probe saw 678 MB for this bundle; now it costs what a 5-event bundle does.
        assert bomb_kib - baseline_kib < 32 * 1024, (bomb_kib, baseline_kib)
        assert code == 1
        assert "events.jsonl is compressed" in output

    def test_a_member_larger_than_any_bundle_holds_is_refused_unread(
        self, exported: tuple[bytes, list[int]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        data, _ = exported
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            size = archive.getinfo("events.jsonl").file_size
        monkeypatch.setattr(bundle, "MAX_EVENTS_BYTES", size - 1)
        with pytest.raises(bundle.BundleError, match=f"holds {size:,} bytes"):
            bundle.verify(data)

    def test_a_line_without_end_is_refused_in_bounded_memory(self) -> None:
        endless = io.BytesIO(bytes(5 * bundle.MAX_LINE_BYTES))
        tracemalloc.start()
        try:
            with pytest.raises(bundle.BundleError, match="line 1 runs past"):
                list(bundle._lines(endless))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 3 * bundle.MAX_LINE_BYTES

    def test_other_members_are_named_in_words(self, tmp_path: Path) -> None:
        other = tmp_path / "other.zip"
        with zipfile.ZipFile(other, "w") as archive:
            archive.writestr("notes.txt", "hello")
        with pytest.raises(bundle.BundleError) as refused:
            bundle.verify(other)
        assert str(refused.value).startswith("the bundle holds notes.txt; ")
        assert "[" not in str(refused.value)
