"""Proofs through the node cache: byte-identical to an independent tree whether the cache is
cold, warm or too small to hold them, and never stale after the log shrinks. On SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


class TestProofsThroughTheCache:
    def test_match_an_independent_tree_cold_and_warm(self, database: Database) -> None:
        write_events(database, SIZE, per_unit=7)
        independent = merkle.MemoryTree(_leaf_hashes(database))
        for _ in ("cold", "warm"):
            with database.unit_of_work(write=False) as session:
                for size in range(1, SIZE + 1):
                    for index in range(size):
                        assert tree.inclusion_proof(
                            session, index=index, at=size
                        ) == independent.inclusion(index, size)
                    for first in range(1, size + 1):
                        assert tree.consistency_proof(
                            session, first=first, second=size
                        ) == independent.consistency(first, size)
        assert 0 < len(_cache(database)) <= 2 * SIZE

    def test_a_cache_too_small_for_a_proof_still_gives_it_whole(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        write_events(database, SIZE, per_unit=9)
        independent = merkle.MemoryTree(_leaf_hashes(database))
        monkeypatch.setattr(_cache(database), "capacity", 3)
        with database.unit_of_work(write=False) as session:
            for index in range(SIZE):
                assert tree.inclusion_proof(session, index=index, at=SIZE) == independent.inclusion(
                    index, SIZE
                )
        assert len(_cache(database)) == 3

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

    def test_refuses_a_proof_beyond_the_log_though_its_nodes_are_cached(
        self, database: Database
    ) -> None:
        write_events(database, 6)
        with database.unit_of_work(write=False) as session:
            tree.inclusion_proof(session, index=0, at=6)
            with pytest.raises(merkle.ProofError, match="holds 6 events"):
                tree.inclusion_proof(session, index=0, at=7)


class TestNodeCache:
    def test_evicts_the_least_recently_used_beyond_its_capacity(self) -> None:
        cache = node_cache.NodeCache(capacity=2)
        cache.add({(0, 0): b"a", (0, 1): b"b"})
        assert cache.get([(0, 0)]) == {(0, 0): b"a"}  # (0, 1) is now the oldest
        cache.add({(1, 0): b"c"})
        assert cache.get([(0, 0), (0, 1), (1, 0)]) == {(0, 0): b"a", (1, 0): b"c"}

    def test_a_lower_head_empties_it(self) -> None:
        cache = node_cache.NodeCache()
        assert cache.saw_head(10)
        cache.add({(0, 0): b"a"})
        assert cache.saw_head(12)
        assert not cache.saw_head(11)
        assert len(cache) == 0

    @settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.lists(st.tuples(st.integers(0, 3), st.integers(0, 7)), max_size=60),
        st.integers(1, 8),
    )
    def test_never_holds_more_than_its_capacity_nor_a_wrong_hash(
        self, nodes: list[tuple[int, int]], capacity: int
    ) -> None:
        cache = node_cache.NodeCache(capacity=capacity)
        for level, index in nodes:
            value = bytes([level, index])
            cache.add({(level, index): value})
            assert len(cache) <= capacity
            assert cache.get([(level, index)]) == {(level, index): value}
