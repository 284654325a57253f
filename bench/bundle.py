"""Evidential bundles: how large a genuine one is, and what verifying it costs.

A fresh SQLite log of `--events` person-search events (bench/audit.py's), exported whole as
the largest bundle `tabard audit export` makes (50,000 events), then checked by `tabard audit
verify-bundle` in a process of its own. Figures: each member's size, bytes per event, the
size of events.jsonl at a million events (each line measured, its proof grown to the 20 hashes
a million-leaf tree needs), and verify-bundle's seconds and peak memory. Baseline in the same
run: the same process refusing a 300 MB zip bomb, i.e. the cost of starting the command.

Ends with one JSON line.

    python bench/bundle.py [--events 50000]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit import START, write  # bench/audit.py: the same events
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mdm_server.audit import bundle, checkpoints, export
from mdm_server.audit.notes import NoteSigner
from mdm_server.audit.service import Actor
from mdm_server.db import Database, build_engine
from mdm_server.migrate import upgrade
from tests.audit.test_bundle import MAXRSS, zip_bomb
from tests.conftest import make_settings

MILLION = 1_000_000
HASH_IN_JSON = len(json.dumps(base64.b64encode(bytes(32)).decode())) + 1  # and its comma


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def verify_bundle(path: Path) -> tuple[float, int, str]:
    """Seconds, peak resident KiB and the words of `tabard audit verify-bundle PATH`."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MAXRSS, str(path)], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    *said, last = done.stderr.strip().splitlines()
    return seconds, int(last.split()[1]), done.stdout + " ".join(said)


def at_a_million(events_jsonl: bytes) -> int:
    """events.jsonl's size for a million such events, each proof grown to 20 hashes."""
    total = 0
    lines = events_jsonl.splitlines()
    for line in lines:
        proof = len(json.loads(line)["inclusion"])
        total += len(line) + 1 + (20 - proof) * HASH_IN_JSON
    return total * MILLION // len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=export.MAX_EVENTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        settings = make_settings(directory, database_url=f"sqlite:///{directory}/audit.db")
        engine = build_engine(settings)
        upgrade(engine)
        database = Database(engine)
        signer = NoteSigner("bench/bundle", Ed25519PrivateKey.generate())
        log(f"writing {args.events:,} events")
        write(database, 0, args.events, 1000)
        now = datetime.now(UTC)
        with database.unit_of_work() as session:
            checkpoints.make(session, signer=signer, data_dir=directory, now=now)
            query = export.ExportQuery(start=START, end=START + timedelta(days=400))
            data = export.export(
                session,
                query=query,
                signer=signer,
                data_dir=directory,
                actor=Actor.system("bench"),
                now=now,
            )
        engine.dispose()
        path = directory / "bundle.zip"
        path.write_bytes(data)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            sizes = {info.filename: info.file_size for info in archive.infolist()}
            events_jsonl = archive.read("events.jsonl")
        million = at_a_million(events_jsonl)
        log(f"verifying a {len(data):,}-byte bundle")
        verify_s, verify_kib, said = verify_bundle(path)
        assert "The bundle verifies" in said, said
        _, bomb_kib, said = verify_bundle(zip_bomb(directory / "bomb.zip"))
        assert "compressed" in said, said

    figures = {
        "events": args.events,
        "bundle_bytes": len(data),
        "member_bytes": sizes,
        "events_jsonl_bytes_per_event": round(sizes["events.jsonl"] / args.events),
        "events_jsonl_bytes_at_a_million": million,
        "largest_other_member_bytes": max(v for k, v in sizes.items() if k != "events.jsonl"),
        "cap_events_jsonl_bytes": bundle.MAX_EVENTS_BYTES,
        "cap_other_member_bytes": bundle.MAX_OTHER_BYTES,
        "verify_s": round(verify_s, 2),
        "verify_peak_kib": verify_kib,
        "baseline_bomb_refused_peak_kib": bomb_kib,
    }
    print(f"bundle of {args.events:,} events: {len(data):,} bytes")
    for name, size in sizes.items():
        print(f"  {name}: {size:,} bytes")
    print(
        f"events.jsonl: {figures['events_jsonl_bytes_per_event']:,} bytes an event; "
        f"{million:,} at a million events (cap {bundle.MAX_EVENTS_BYTES:,})"
    )
    print(
        f"verify-bundle: {verify_s:.1f} s, peak {verify_kib / 1024:.0f} MiB "
        f"(refusing a 300 MB zip bomb: {bomb_kib / 1024:.0f} MiB; "
        f"x{verify_kib / bomb_kib:.2f})"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
