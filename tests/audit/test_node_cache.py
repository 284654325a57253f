"""Proofs through the node cache: byte-identical to an independent tree whether the cache is
cold or warm, whether nodes come from leaf groups, points or blocks, while the log grows and
when the cache is too small for them; never stale after the log shrinks. On SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from mdm_server.audit import merkle, node_cache, repository, tree
from mdm_server.db import Database
from tests.audit.log import tamper, write_events

SIZE = 45  # not a power of two, nor one less


def _leaf_hashes(database: Database) -> list[bytes]:
    with database.unit_of_work(write=False) as session:
        return [merkle.leaf_hash(row.canonical.encode()) for row in repository.event_rows(session)]


def _cache(database: Database) -> node_cache.NodeCache:
    with database.unit_of_work(write=False) as session:
        return node_cache.for_bind(session.get_bind())


def _every_proof_matches(database: Database, independent: merkle.MemoryTree, size: int) -> None:
    with database.unit_of_work(write=False) as session:
        for at in range(1, size + 1):
            for index in range(at):
                assert tree.inclusion_proof(session, index=index, at=at) == independent.inclusion(
                    index, at
                )
            for first in range(1, at + 1):
                assert tree.consistency_proof(
                    session, first=first, second=at
                ) == independent.consistency(first, at)


@pytest.fixture
def spans_read(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[int, int, int]]]:
    """The spans each proof's one query read."""
    queries: list[list[tuple[int, int, int]]] = []
    real = repository.head_and_spans

    def spy(session: object, spans: list[tuple[int, int, int]]) -> tuple[int, dict]:
        queries.append(list(spans))
        return real(session, spans)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "head_and_spans", spy)
    return queries


class TestProofsThroughTheCache:
    @pytest.mark.parametrize(
        ("block", "capacity"),
        [
            (node_cache.BLOCK, node_cache.CAPACITY),  # leaf groups, then blocks from level 3
            (2, 3),  # blocks of two; too few of them, so the middle levels are read by point
            (4, 1),  # one block: evicted on nearly every proof
        ],
    )
    def test_match_an_independent_tree_cold_and_warm(
        self, database: Database, monkeypatch: pytest.MonkeyPatch, block: int, capacity: int
    ) -> None:
        monkeypatch.setattr(node_cache, "BLOCK", block)
        write_events(database, SIZE, per_unit=7)
        cache = _cache(database)
        monkeypatch.setattr(cache, "capacity", capacity)
        independent = merkle.MemoryTree(_leaf_hashes(database))
        for _ in ("cold", "warm"):
            _every_proof_matches(database, independent, SIZE)
            assert 0 < cache.blocks <= capacity

    def test_a_growing_log_reads_only_the_tail_of_a_block_it_holds(
        self, database: Database, monkeypatch: pytest.MonkeyPatch, spans_read: list
    ) -> None:
        monkeypatch.setattr(node_cache, "BLOCK", 4)
        write_events(database, 20, per_unit=6)
        _every_proof_matches(database, merkle.MemoryTree(_leaf_hashes(database)), 20)
        # At 20 leaves level 3 has nodes 0 and 1 (leaves 0 to 15): block (3, 0) holds those two.
        write_events(database, 25, start=20, per_unit=5)
        spans_read.clear()
        independent = merkle.MemoryTree(_leaf_hashes(database))
        with database.unit_of_work(write=False) as session:
            assert tree.inclusion_proof(session, index=24, at=45) == independent.inclusion(24, 45)
        # Leaf 24's path at 45: its group's nodes (leaves 24 to 31), (3, 2), (4, 0), then the
        # right edge [32, 45) = (3, 4), (2, 10), (0, 44). (4, 0) is held; of block (3, 0) only
        # the tail from node 2 is read; block (3, 1) whole; the two leaf groups.
        assert spans_read == [[(0, 24, 32), (0, 40, 48), (3, 2, 4), (3, 4, 8)]]
        _every_proof_matches(database, independent, 45)

    def test_a_shrunk_log_is_not_served_from_the_cache(self, database: Database) -> None:
        write_events(database, 12)
        with database.unit_of_work(write=False) as session:
            tree.inclusion_proof(session, index=0, at=12)  # caches nodes up to size 12
        tamper(  # an old snapshot of 8 events, then different events after it
            database,
            "DELETE FROM audit_events WHERE seq > 8",
            "DELETE FROM audit_index WHERE seq > 8",
            "DELETE FROM audit_tree_nodes WHERE (idx + 1) * (1 << level) > 8",
            "UPDATE audit_head SET last_seq = 8",
        )
        with (
            database.unit_of_work(write=False) as session,
            pytest.raises(merkle.ProofError, match="holds 8 events"),
        ):
            tree.inclusion_proof(session, index=0, at=12)
        write_events(database, 4, start=100)
        independent = merkle.MemoryTree(_leaf_hashes(database))
        with database.unit_of_work(write=False) as session:
            assert tree.inclusion_proof(session, index=0, at=12) == independent.inclusion(0, 12)

    def test_on_postgresql_the_proof_query_is_planned_once_not_per_proof(
        self, database: Database
    ) -> None:
        if database.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only: SQLite plans in process, at no round trip's cost")
        write_events(database, 40, per_unit=10)
        with database.unit_of_work(write=False) as session:
            for index in range(30):
                tree.inclusion_proof(session, index=index, at=40)
            ((generic, custom),) = session.execute(
                text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE '%audit_tree_nodes%' AND statement LIKE '%audit_head%'"
                )
            ).all()
        # The driver prepares the statement at its sixth use; the server tries five custom
        # plans, then keeps the generic one if it costs no more.
        assert custom <= 5 < custom + generic and generic > 0, (generic, custom)

    def test_refuses_a_proof_beyond_the_log_though_its_nodes_are_cached(
        self, database: Database
    ) -> None:
        write_events(database, 6)
        with database.unit_of_work(write=False) as session:
            tree.inclusion_proof(session, index=0, at=6)
            with pytest.raises(merkle.ProofError, match="holds 6 events"):
                tree.inclusion_proof(session, index=0, at=7)

    @pytest.mark.parametrize(
        ("level", "idx", "proof_of"),
        [
            (0, 13, 8),  # in the leaf group a proof of leaf 8 hashes its lower nodes from
            (3, 1, 0),  # read by the block (3, 0): a gap in the middle of it
            (4, 1, 0),  # the block (4, 0) holds only (4, 0)
        ],
    )
    def test_a_node_missing_from_the_store_is_named_not_guessed(
        self, database: Database, level: int, idx: int, proof_of: int
    ) -> None:
        write_events(database, 32, per_unit=8)
        tamper(
            database,
            "DELETE FROM audit_tree_nodes WHERE level = :level AND idx = :idx",
            level=level,
            idx=idx,
        )
        with (
            database.unit_of_work(write=False) as session,
            pytest.raises(merkle.ProofError, match="lacks node"),
        ):
            tree.inclusion_proof(session, index=proof_of, at=32)


class TestNodeCache:
    def test_evicts_the_least_recently_used_block_beyond_its_capacity(self) -> None:
        cache = node_cache.NodeCache(capacity=2)
        a, b, c = ((3, 0), (3, 256), (3, 512))  # three blocks of level 3
        plan = cache.plan([a, b], 8)
        cache.take(plan, [a, b], {a: b"a" * 32, b: b"b" * 32})
        assert cache.plan([a], 8).found == {a: b"a" * 32}  # block of b is now the oldest
        plan = cache.plan([c], 8)
        cache.take(plan, [c], {c: b"c" * 32})
        assert set(cache.plan([a, b, c], 8).found) == {a, c}

    def test_a_lower_head_empties_it(self) -> None:
        cache = node_cache.NodeCache()
        assert cache.saw_head(10)
        plan = cache.plan([(3, 0)], 10)
        cache.take(plan, [(3, 0)], {(3, 0): b"x" * 32})
        assert cache.saw_head(12)
        assert not cache.saw_head(11)
        assert len(cache) == 0

    def test_a_block_holds_only_what_runs_from_its_start_without_a_gap(self) -> None:
        cache = node_cache.NodeCache()
        wanted = [(4, 0), (4, 2)]
        plan = cache.plan(wanted, 1 << 10)
        nodes = cache.take(plan, wanted, {(4, 0): b"0" * 32, (4, 2): b"2" * 32})
        assert nodes == {(4, 0): b"0" * 32, (4, 2): b"2" * 32}
        assert len(cache) == 1  # (4, 1) is missing, so (4, 2) was not kept
        assert cache.plan([(4, 2)], 1 << 10).spans() == [(4, 1, node_cache.BLOCK)]

    @pytest.mark.parametrize(
        ("size", "level"), [(1_000_000, 3), (2_000_000, 3), (4_800_000, 5), (192_000_000, 10)]
    )
    def test_keeps_in_blocks_only_the_levels_that_fit(self, size: int, level: int) -> None:
        cache = node_cache.NodeCache()
        assert cache.block_from(size) == level
        above = sum(-(-(size >> lv) // node_cache.BLOCK) for lv in range(level, 64))
        below = sum(-(-(size >> lv) // node_cache.BLOCK) for lv in range(level - 1, 64))
        assert above <= cache.capacity and (level == 3 or below > cache.capacity)

    @settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.lists(st.tuples(st.integers(3, 5), st.integers(0, 1023)), max_size=60),
        st.integers(1, 6),
    )
    def test_never_holds_more_than_its_capacity_nor_a_wrong_hash(
        self, nodes: list[tuple[int, int]], capacity: int
    ) -> None:
        cache = node_cache.NodeCache(capacity=capacity)
        store = {
            (level, idx): bytes([level, idx % 256, idx // 256]) * 10 + b"\0\0"
            for level in range(3, 6)
            for idx in range(1024)
        }
        for node in nodes:
            plan = cache.plan([node], 8)  # a size whose blocks all fit
            assert cache.take(plan, [node], {n: store[n] for n in _read(plan, store)}) == {
                node: store[node]
            }
            assert cache.blocks <= capacity


def _read(plan: node_cache.Plan, store: dict[merkle.Node, bytes]) -> list[merkle.Node]:
    return [
        (level, idx)
        for level, first, stop in plan.spans()
        for idx in range(first, stop)
        if (level, idx) in store
    ]
