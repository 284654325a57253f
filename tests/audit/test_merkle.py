"""RFC 9162 proofs: the transparency-dev known-answer vectors, reference roots, and properties
over random trees (every proof verifies; any single-bit change to it does not)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm_server.audit import merkle
from mdm_server.audit.merkle import MemoryTree, ProofError

VECTORS = Path(__file__).parent.parent / "vectors" / "merkle"


def _load(kind: str) -> list[tuple[str, dict[str, Any]]]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [(str(path.relative_to(VECTORS)), json.loads(path.read_text())) for path in files]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _proof(vector: dict[str, Any]) -> list[bytes]:
    return [_b64(item) for item in vector["proof"] or []]


INCLUSION = _load("inclusion")
CONSISTENCY = _load("consistency")


def test_every_vector_file_is_loaded() -> None:
    assert len(INCLUSION) + len(CONSISTENCY) == 196
    assert any(not v["wantErr"] for _, v in INCLUSION)
    assert any(v["wantErr"] for _, v in CONSISTENCY)


@pytest.mark.parametrize(("name", "vector"), INCLUSION, ids=[n for n, _ in INCLUSION])
def test_inclusion_vector(name: str, vector: dict[str, Any]) -> None:
    def verify() -> None:
        merkle.verify_inclusion(
            vector["leafIdx"],
            vector["treeSize"],
            _b64(vector["leafHash"]),
            _proof(vector),
            _b64(vector["root"]),
        )

    if vector["wantErr"]:
        with pytest.raises(ProofError):
            verify()
    else:
        verify()


@pytest.mark.parametrize(("name", "vector"), CONSISTENCY, ids=[n for n, _ in CONSISTENCY])
def test_consistency_vector(name: str, vector: dict[str, Any]) -> None:
    def verify() -> None:
        merkle.verify_consistency(
            vector["size1"],
            vector["size2"],
            _b64(vector["root1"]),
            _b64(vector["root2"]),
            _proof(vector),
        )

    if vector["wantErr"]:
        with pytest.raises(ProofError):
            verify()
    else:
        verify()


# RFC 6962's reference tree: the eight leaves of the Certificate Transparency test suite.
REFERENCE_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
REFERENCE_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_roots_match_the_rfc_reference_tree() -> None:
    tree = MemoryTree()
    assert tree.root() == hashlib.sha256(b"").digest()
    for leaf, want in zip(REFERENCE_LEAVES, REFERENCE_ROOTS, strict=True):
        tree.append(merkle.leaf_hash(leaf))
        assert tree.root().hex() == want
        assert merkle.root_of(merkle.leaf_hash(x) for x in REFERENCE_LEAVES[: tree.size]) == (
            tree.root()
        )


def _naive_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162's recursive definition, as an independent check."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(_naive_root(leaves[:k]), _naive_root(leaves[k:]))


def _leaves(count: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(count)]


def _flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


@st.composite
def _inclusion_case(draw: st.DrawFn) -> tuple[int, int, MemoryTree]:
    size = draw(st.integers(min_value=1, max_value=300))
    index = draw(st.integers(min_value=0, max_value=size - 1))
    return index, size, MemoryTree(_leaves(size))


@st.composite
def _consistency_case(draw: st.DrawFn) -> tuple[int, int, MemoryTree]:
    second = draw(st.integers(min_value=1, max_value=300))
    first = draw(st.integers(min_value=1, max_value=second))
    return first, second, MemoryTree(_leaves(second))


@settings(max_examples=200, deadline=None)
@given(_inclusion_case())
def test_inclusion_proofs_verify(case: tuple[int, int, MemoryTree]) -> None:
    index, size, tree = case
    assert tree.root() == _naive_root(_leaves(size))
    proof = tree.inclusion(index, size)
    merkle.verify_inclusion(
        index, size, merkle.leaf_hash(index.to_bytes(4, "big")), proof, tree.root()
    )


@settings(max_examples=200, deadline=None)
@given(_consistency_case())
def test_consistency_proofs_verify(case: tuple[int, int, MemoryTree]) -> None:
    first, second, tree = case
    proof = tree.consistency(first, second)
    merkle.verify_consistency(first, second, tree.root(first), tree.root(second), proof)


@settings(max_examples=300, deadline=None)
@given(_inclusion_case(), st.data())
def test_any_single_bit_change_breaks_an_inclusion_proof(
    case: tuple[int, int, MemoryTree], data: st.DataObject
) -> None:
    index, size, tree = case
    leaf = tree.nodes[(0, index)]
    proof = tree.inclusion(index, size)
    root = tree.root()
    # The size is not in this list: a root does not commit to its size by itself (leaf 0 of 5
    # and of 7 can share a path), which is why sizes travel in signed checkpoints; flipping a
    # checkpoint's size is tested in test_checkpoint.py.
    parts = ["root", "leaf", "index"] + (["proof"] if proof else [])
    part = data.draw(st.sampled_from(parts))
    if part == "proof":
        at = data.draw(st.integers(0, len(proof) - 1))
        proof[at] = _flip(proof[at], data.draw(st.integers(0, 255)))
    elif part == "root":
        root = _flip(root, data.draw(st.integers(0, 255)))
    elif part == "leaf":
        leaf = _flip(leaf, data.draw(st.integers(0, 255)))
    else:
        index ^= 1 << data.draw(st.integers(0, 9))
    with pytest.raises(ProofError):
        merkle.verify_inclusion(index, size, leaf, proof, root)


@settings(max_examples=300, deadline=None)
@given(_consistency_case(), st.data())
def test_any_single_bit_change_breaks_a_consistency_proof(
    case: tuple[int, int, MemoryTree], data: st.DataObject
) -> None:
    first, second, tree = case
    proof = tree.consistency(first, second)
    roots = [tree.root(first), tree.root(second)]
    parts = ["first_root", "second_root"] + (["proof"] if proof else [])  # sizes: see above
    part = data.draw(st.sampled_from(parts))
    if part == "proof":
        at = data.draw(st.integers(0, len(proof) - 1))
        proof[at] = _flip(proof[at], data.draw(st.integers(0, 255)))
    else:
        which = 0 if part == "first_root" else 1
        roots[which] = _flip(roots[which], data.draw(st.integers(0, 255)))
    with pytest.raises(ProofError):
        merkle.verify_consistency(first, second, roots[0], roots[1], proof)


def test_new_nodes_are_the_nodes_a_batch_completes() -> None:
    for first in range(0, 40):
        for count in range(1, 20):
            tree = MemoryTree(_leaves(first))
            before = set(tree.nodes)
            for leaf in _leaves(first + count)[first:]:
                tree.append(leaf)
            added = set(tree.nodes) - before
            listed = {
                (level, index)
                for level, indexes in enumerate(merkle.new_nodes(first, count))
                for index in indexes
            }
            assert listed == added, (first, count)


def test_proofs_read_only_logarithmically_many_nodes() -> None:
    size = 1_000_003
    for index in (0, 1, size // 2, size - 1):
        assert len(merkle.nodes_for(merkle.inclusion_ranges(index, size))) <= 2 * 21
    assert len(merkle.nodes_for(merkle.consistency_ranges(12_345, size))) <= 2 * 21


@pytest.mark.parametrize(("index", "size"), [(0, 0), (5, 5), (-1, 3)])
def test_impossible_inclusion_requests_are_refused(index: int, size: int) -> None:
    with pytest.raises(ProofError):
        merkle.inclusion_ranges(index, size)


def test_impossible_consistency_requests_are_refused() -> None:
    with pytest.raises(ProofError):
        merkle.consistency_ranges(5, 4)
    with pytest.raises(ProofError):
        MemoryTree(_leaves(3)).consistency(1, 4)


def test_event_ids_are_version_7_and_sort_by_time() -> None:
    from mdm_server.audit.ids import uuid7

    ids = [uuid7() for _ in range(50)]
    assert all(value.version == 7 and value.variant == uuid.RFC_4122 for value in ids)
    assert len(set(ids)) == 50
    first, last = ids[0].int >> 80, ids[-1].int >> 80
    assert first <= last
