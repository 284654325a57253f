"""The audit log: appending, proving, verifying and searching, on SQLite (and on PostgreSQL
when TABARD_TEST_DATABASE_URL is set, in a fresh database of its own).

1. Appended and committed events per second, in units of work of `--batch` events (how the
   device outbox and bulk jobs write), against a baseline of one event per unit of work.
2. Inclusion proofs per second from the stored tree at full size (random events, the node
   cache cold at the start, then as many again with it warm), against a baseline of the same
   proofs from a tree held whole in memory; then the node cache's size and memory, and bare
   round trips a second on the same connection (a proof needs one: its floor).
3. `tabard audit verify`'s pass over the whole log (`--events`, default 1,000,000), against a
   baseline pass that only reads the stored leaf hashes and folds them into the root.
4. One officer's search (their newest 50 events, then all of one day) over the whole log
   through the search index, against a baseline scan of the events' JSON for the same officer.

Each figure is printed beside its baseline and its target (issue 26). Ends with one JSON line.

    python bench/audit.py [--events 1000000] [--batch 1000] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from bench._load import on_each_backend
from mdm_server.audit import checkpoints, merkle, node_cache, repository, tree
from mdm_server.audit.notes import NoteSigner
from mdm_server.audit.service import Actor, record
from mdm_server.audit.verify import verify
from mdm_server.db import Database, build_engine
from mdm_server.migrate import upgrade
from tests.conftest import make_settings

START = datetime(2026, 11, 1, tzinfo=UTC)
TARGETS = {"append_batched_per_s": 10_000, "inclusion_proofs_per_s": 5_000, "verify_s": 15.0}
OFFICERS = [f"{1000 + n}" for n in range(2000)]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write(database: Database, first: int, count: int, batch: int) -> float:
    """Write `count` search events in units of `batch`; seconds taken."""
    started = time.perf_counter()
    for offset in range(0, count, batch):
        with database.unit_of_work() as session:
            for n in range(first + offset, first + min(offset + batch, count)):
                collar = OFFICERS[n % len(OFFICERS)]
                record(
                    session,
                    actor=Actor(type="staff", id=f"u{collar}", name=f"pc{collar}", role="officer"),
                    action="transaction.person_search",
                    now=START + timedelta(seconds=n * 2),
                    target_type="device",
                    target_id=f"dev-{n % 9000}",
                    detail={
                        "type": "person_search",
                        "purpose": "INV",
                        "collar_number": collar,
                        "division": f"D{n % 12}",
                        "device_id": f"dev-{n % 9000}",
                        "subject": {"surname": f"Surname{n % 50000}", "forename": "Alex"},
                        "outcome": "answered",
                        "result_count": n % 4,
                    },
                )
    return time.perf_counter() - started


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def proofs(database: Database, size: int, samples: int) -> dict[str, float]:
    """Proofs a second from the stored tree, first with the node cache cold and then warm (as
    many again, of other events); from the whole tree in memory; and, the floor for a proof
    that asks the database anything, bare round trips (`SELECT 1` through the driver) a
    second on the same connection."""
    rng = random.Random(7)
    cold = [rng.randint(1, size) for _ in range(samples)]
    warm = [rng.randint(1, size) for _ in range(samples)]
    elapsed = []
    with database.unit_of_work(write=False) as session:
        for seqs in (cold, warm):
            started = time.perf_counter()
            for seq in seqs:
                tree.inclusion_proof(session, index=seq - 1, at=size)
            elapsed.append(time.perf_counter() - started)
        cursor = session.connection().connection.cursor()
        started = time.perf_counter()
        for _ in range(samples):
            cursor.execute("SELECT 1")
            cursor.fetchall()
        round_trips = time.perf_counter() - started
        cursor.close()
        leaves = [leaf for _, leaf in repository.leaves(session)]
    memory = merkle.MemoryTree(leaves)
    started = time.perf_counter()
    for seq in cold:
        memory.inclusion(seq - 1, size)
    in_memory = time.perf_counter() - started
    return {
        "cold": rate(samples, elapsed[0]),
        "warm": rate(samples, elapsed[1]),
        "memory": rate(samples, in_memory),
        "round_trips": rate(samples, round_trips),
    }


def cache_mib() -> float:
    """The memory a node cache filled to its capacity holds (its blocks, keys and order)."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cache = node_cache.NodeCache()
    for n in range(cache.capacity):
        level, number = 3 + n % 12, n
        plan = node_cache.Plan()
        plan.blocks[(level, number)] = number * node_cache.BLOCK
        first = number * node_cache.BLOCK
        read = {(level, i): i.to_bytes(32, "big") for i in range(first, first + node_cache.BLOCK)}
        cache.take(plan, [], read)
    del read
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / 2**20


def search_ms(database: Database, statement: str, params: dict[str, Any], runs: int) -> float:
    times = []
    with database.unit_of_work(write=False) as session:
        for _ in range(runs):
            started = time.perf_counter()
            session.execute(text(statement), params).all()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def scan_statement(dialect: str) -> str:
    """The baseline search: the events' JSON read for one officer, no index."""
    collar = (
        "detail ->> 'collar_number'"
        if dialect == "postgresql"
        else "json_extract(detail, '$.collar_number')"
    )
    return (
        f"SELECT seq, canonical FROM audit_events WHERE {collar} = :o "  # noqa: S608
        "ORDER BY seq DESC LIMIT 50"
    )


def run_backend(name: str, url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    """Every figure on one backend: SQLite in a temporary directory, or this PostgreSQL URL."""
    log(f"{name}:")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        settings = make_settings(directory, database_url=url or f"sqlite:///{directory}/audit.db")
        engine = build_engine(settings)
        upgrade(engine)
        database = Database(engine)
        signer = NoteSigner("bench/audit", Ed25519PrivateKey.generate())

        single = write(database, 0, args.baseline_events, 1)
        log(f"  baseline: {args.baseline_events} events, one per unit: {single:.1f} s")
        remaining = args.events - args.baseline_events
        batched = 0.0
        written = args.baseline_events
        step = max(args.batch, 100_000)
        while written < args.events:
            count = min(step, args.events - written)
            batched += write(database, written, count, args.batch)
            written += count
            log(f"  {written:,} events ({rate(written - args.baseline_events, batched):,.0f}/s)")
        with database.unit_of_work() as session:
            checkpoints.make(session, signer=signer, data_dir=directory, now=datetime.now(UTC))

        proved = proofs(database, args.events, args.proofs)
        cache = node_cache.for_bind(engine)
        cached, blocks = len(cache), cache.blocks
        log(f"  proofs done; {cached:,} nodes cached in {blocks:,} blocks")

        with database.unit_of_work(write=False) as session:
            report = verify(session, verifier=signer.verifier(), published=None)
            assert report.ok, report.problems
            verify_s = report.seconds
            started = time.perf_counter()
            root = merkle.root_of(leaf for _, leaf in repository.leaves(session))
            fold_s = time.perf_counter() - started
            assert root == tree.root(session, args.events)

        officer = OFFICERS[123]
        day = (
            {"a": START + timedelta(days=9), "b": START + timedelta(days=10)}
            if engine.dialect.name == "postgresql"
            else {"a": "2026-11-10 00:00:00.000000", "b": "2026-11-11 00:00:00.000000"}
        )
        page_ms = search_ms(
            database,
            "SELECT e.seq, e.canonical FROM audit_index i JOIN audit_events e ON e.seq = i.seq "
            "WHERE i.officer = :o ORDER BY i.seq DESC LIMIT 50",
            {"o": officer},
            runs=20,
        )
        day_ms = search_ms(
            database,
            "SELECT e.seq, e.canonical FROM audit_index i JOIN audit_events e ON e.seq = i.seq "
            "WHERE i.officer = :o AND i.occurred_at >= :a AND i.occurred_at < :b ORDER BY i.seq",
            {"o": officer, **day},
            runs=20,
        )
        scan_ms = search_ms(database, scan_statement(engine.dialect.name), {"o": officer}, runs=3)
        engine.dispose()

    figures = {
        "append_batched_per_s": round(rate(remaining, batched)),
        "append_single_per_s": round(rate(args.baseline_events, single)),
        "inclusion_proofs_per_s": round(proved["cold"]),
        "inclusion_proofs_warm_per_s": round(proved["warm"]),
        "inclusion_proofs_ratio": round(proved["cold"] / proved["memory"], 3),
        "inclusion_proofs_in_memory_per_s": round(proved["memory"]),
        "round_trips_per_s": round(proved["round_trips"]),
        "node_cache_nodes": cached,
        "node_cache_blocks": blocks,
        "verify_s": round(verify_s, 2),
        "leaf_fold_s": round(fold_s, 2),
        "officer_newest_50_ms": round(page_ms, 2),
        "officer_one_day_ms": round(day_ms, 2),
        "officer_scan_ms": round(scan_ms, 1),
    }
    show(name, args, figures)
    return figures


def show(name: str, args: argparse.Namespace, figures: dict[str, Any]) -> None:
    batched, single = figures["append_batched_per_s"], figures["append_single_per_s"]
    stored, memory = figures["inclusion_proofs_per_s"], figures["inclusion_proofs_in_memory_per_s"]
    verify_s, fold_s = figures["verify_s"], figures["leaf_fold_s"]
    page_ms, scan_ms = figures["officer_newest_50_ms"], figures["officer_scan_ms"]
    print(f"{name}, {args.events:,} events:")
    print(
        f"  append, batches of {args.batch}: {batched:,}/s "
        f"(one per unit: {single:,}/s, x{batched / single:.1f}; "
        f"target {TARGETS['append_batched_per_s']:,}/s)"
    )
    warm = figures["inclusion_proofs_warm_per_s"]
    print(
        f"  inclusion proofs from the stored tree, cache cold: {stored:,}/s, then warm: "
        f"{warm:,}/s (whole tree in memory: {memory:,}/s, x{stored / memory:.2f} and "
        f"x{warm / memory:.2f}; target {TARGETS['inclusion_proofs_per_s']:,}/s); "
        f"{figures['node_cache_nodes']:,} nodes cached in {figures['node_cache_blocks']:,} blocks"
    )
    print(f"  a bare round trip (SELECT 1) alone: {figures['round_trips_per_s']:,}/s")
    print(
        f"  verify: {verify_s:.1f} s (folding the stored leaves alone: {fold_s:.1f} s, "
        f"x{verify_s / fold_s:.1f}; target {TARGETS['verify_s']:.0f} s for 1,000,000)"
    )
    print(
        f"  officer search, newest 50: {page_ms:.2f} ms; one day: "
        f"{figures['officer_one_day_ms']:.2f} ms "
        f"(scan of the events' JSON: {scan_ms:.0f} ms, x{scan_ms / page_ms:.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--baseline-events", type=int, default=2000)
    parser.add_argument("--proofs", type=int, default=5000)
    parser.add_argument(
        "--backend",
        choices=("both", "sqlite", "postgresql"),
        default="both",
        help="both: SQLite, and PostgreSQL when TABARD_TEST_DATABASE_URL is set",
    )
    args = parser.parse_args()
    results: dict[str, Any] = {
        "benchmark": "audit",
        "events": args.events,
        "batch": args.batch,
        "node_cache_capacity": node_cache.CAPACITY,
        "node_cache_full_mib": round(cache_mib(), 1),
        "targets": TARGETS,
    }
    print(
        f"node cache: at most {node_cache.CAPACITY:,} blocks of {node_cache.BLOCK} nodes, "
        f"{results['node_cache_full_mib']:.1f} MiB when full"
    )
    results.update(
        on_each_backend(
            lambda name, url: run_backend(name, url, args) if args.backend in ("both", name) else {}
        )
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
