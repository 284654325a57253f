"""The stored Merkle tree over the audit events (RFC 9162): appended in the same transaction as
the events it covers, read back for roots and proofs. Proofs read through an in-process cache
of node hashes (node_cache.py) and fetch what it lacks, with the head, in one query."""

from __future__ import annotations

from sqlmodel import Session

from mdm_server.audit import merkle, node_cache, repository
from mdm_server.audit.merkle import Node, ProofError


def append(session: Session, *, first: int, leaves: list[bytes]) -> None:
    """Store leaf hashes for leaf indexes `first ..` and every perfect node they complete.
    The caller holds the audit head's lock, so appends never interleave."""
    levels = merkle.new_nodes(first, len(leaves))
    known: dict[Node, bytes] = {(0, first + offset): leaf for offset, leaf in enumerate(leaves)}
    # Only the first new node of each level can have a left child from an earlier append.
    older = [
        (level - 1, 2 * indexes[0])
        for level, indexes in enumerate(levels)
        if level and 2 * indexes[0] < levels[level - 1][0]
    ]
    known.update(repository.read_nodes(session, older))
    new: list[tuple[Node, bytes]] = [((0, first + i), leaf) for i, leaf in enumerate(leaves)]
    for level, indexes in enumerate(levels[1:], start=1):
        for index in indexes:
            try:
                left, right = known[(level - 1, 2 * index)], known[(level - 1, 2 * index + 1)]
            except KeyError as missing:
                raise RuntimeError(f"audit tree node {missing} is missing") from None
            value = merkle.node_hash(left, right)
            known[(level, index)] = value
            new.append(((level, index), value))
    repository.insert_nodes(session, new)


def _hashes(session: Session, ranges: list[merkle.Range]) -> list[bytes]:
    """The hashes of `ranges`, read from the store itself (never the cache)."""
    nodes = repository.read_nodes(session, merkle.nodes_for(ranges))
    try:
        return [merkle.hash_range(start, end, nodes) for start, end in ranges]
    except KeyError as missing:
        raise ProofError(f"the stored tree lacks node {missing}") from None


def size(session: Session) -> int:
    return repository.head(session)


def root(session: Session, at: int) -> bytes:
    """The root over the first `at` leaves."""
    if at == 0:
        return merkle.EMPTY_ROOT
    return _hashes(session, [(0, at)])[0]


def inclusion_proof(session: Session, *, index: int, at: int) -> list[bytes]:
    """The audit path for leaf `index` (seq - 1) in the tree of `at` leaves."""
    return _proof(session, merkle.inclusion_ranges(index, at), at)


def consistency_proof(session: Session, *, first: int, second: int) -> list[bytes]:
    return _proof(session, merkle.consistency_ranges(first, second), second)


def _proof(session: Session, ranges: list[merkle.Range], at: int) -> list[bytes]:
    """The hashes of `ranges` in the tree of `at` leaves: cached nodes, and the rest read
    together with the head, which must have reached `at` (node_cache.py says how)."""
    cache = node_cache.for_bind(session.get_bind())
    parts = [merkle.perfect_parts(start, end) for start, end in ranges]
    wanted = {node for part in parts for node in part}
    plan = cache.plan(wanted, at)
    current, read = repository.head_and_spans(session, plan.spans())
    if not cache.saw_head(current):  # the log shrank: what came from the cache is suspect
        plan = cache.plan(wanted, at)
        current, read = repository.head_and_spans(session, plan.spans())
    if at > current:
        raise ProofError(f"the log holds {current} events, not {at}")
    nodes = cache.take(plan, wanted, read)
    try:
        return [merkle.hash_parts(part, nodes) for part in parts]
    except KeyError as missing:
        raise ProofError(f"the stored tree lacks node {missing}") from None
