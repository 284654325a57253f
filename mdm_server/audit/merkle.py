"""RFC 9162 Merkle trees: hashes, proofs and their verification. Pure; stdlib only.

Hashing is RFC 9162 §2.1.1: a leaf is `SHA-256(0x00 || data)`, an interior node
`SHA-256(0x01 || left || right)`, the empty tree `SHA-256("")`. A tree over n leaves splits at
k, the largest power of two below n.

Stored trees keep only *perfect* subtrees: node `(level, index)` is the hash of leaves
`[index * 2**level, (index + 1) * 2**level)`. Every range a proof needs is either such a node or
a right edge `[start, end)` whose hash folds the perfect parts of its size, largest first, so a
proof costs O(log n) node reads, fetched together (`proof_nodes`, then `hash_range`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]  # (level, index) of a perfect subtree
Range = tuple[int, int]  # leaves [start, end)


class ProofError(ValueError):
    """A proof that does not verify, or a request for one that cannot exist."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly below `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


# Building ------------------------------------------------------------------------------------


class CompactRange:
    """The perfect subtrees covering leaves [0, size), largest first: enough to append leaves
    and to give the root at any size, in O(log n) memory. Streaming verification uses it."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, leaf: bytes) -> list[tuple[Node, bytes]]:
        """Add a leaf hash; returns the perfect nodes it completed, the leaf itself first."""
        index = self.size
        completed: list[tuple[Node, bytes]] = [((0, index), leaf)]
        value, level = leaf, 0
        while (index >> level) & 1:
            value = node_hash(self._stack.pop(), value)
            level += 1
            completed.append(((level, index >> level), value))
        self._stack.append(value)
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        value = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            value = node_hash(left, value)
        return value


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The root over these leaf hashes."""
    compact = CompactRange()
    for leaf in leaves:
        compact.append(leaf)
    return compact.root()


def new_nodes(first: int, count: int) -> list[list[int]]:
    """For leaves `first .. first + count - 1` appended to a tree of `first` leaves: per level
    (from 0), the indexes of the perfect nodes they complete."""
    end = first + count
    levels: list[list[int]] = []
    level = 0
    while True:
        low = -(-(first + 1) // (1 << level)) - 1  # the first node completed at or after `first`
        high = end // (1 << level) - 1
        if high < max(low, 0):
            break
        levels.append(list(range(max(low, 0), high + 1)))
        level += 1
    return levels


# Proof shapes --------------------------------------------------------------------------------


def _inclusion_ranges(index: int, start: int, end: int, out: list[Range]) -> None:
    """RFC 9162 §2.1.3.1 PATH(index, D[start:end]), as leaf ranges, nearest the leaf first."""
    if end - start <= 1:
        return
    k = _split(end - start)
    if index < k:
        _inclusion_ranges(index, start, start + k, out)
        out.append((start + k, end))
    else:
        _inclusion_ranges(index - k, start + k, end, out)
        out.append((start, start + k))


def _consistency_ranges(first: int, start: int, end: int, whole: bool, out: list[Range]) -> None:
    """RFC 9162 §2.1.4.1 SUBPROOF(first, D[start:end], whole), as leaf ranges."""
    size = end - start
    if first == size:
        if not whole:
            out.append((start, end))
        return
    k = _split(size)
    if first <= k:
        _consistency_ranges(first, start, start + k, whole, out)
        out.append((start + k, end))
    else:
        _consistency_ranges(first - k, start + k, end, False, out)
        out.append((start, start + k))


def inclusion_ranges(index: int, size: int) -> list[Range]:
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    out: list[Range] = []
    _inclusion_ranges(index, 0, size, out)
    return out


def consistency_ranges(first: int, second: int) -> list[Range]:
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    out: list[Range] = []
    if 0 < first < second:
        _consistency_ranges(first, 0, second, True, out)
    return out


def perfect_parts(start: int, end: int) -> list[Node]:
    """The perfect nodes whose concatenation is leaves [start, end), largest first. `start`
    must be a multiple of the largest part's width, as every range in a proof is."""
    parts: list[Node] = []
    position = start
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        if position % (1 << level):
            raise ProofError(f"range [{start}, {end}) is not aligned")
        parts.append((level, position >> level))
        position += 1 << level
        remaining -= 1 << level
    return parts


def nodes_for(ranges: Iterable[Range]) -> set[Node]:
    """Every stored node the ranges' hashes need: what to fetch, in one read."""
    return {node for start, end in ranges for node in perfect_parts(start, end)}


def hash_range(start: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    """MTH(D[start:end]) from stored perfect nodes."""
    if start == end:
        return EMPTY_ROOT
    return hash_parts(perfect_parts(start, end), nodes)


def hash_parts(parts: Sequence[Node], nodes: Mapping[Node, bytes]) -> bytes:
    """The hash of the range these perfect parts (largest first, as `perfect_parts` gives
    them) make up."""
    if not parts:
        return EMPTY_ROOT
    hashes = [nodes[node] for node in parts]
    value = hashes[-1]
    for left in reversed(hashes[:-1]):
        value = node_hash(left, value)
    return value


# Verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ----------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless `proof` shows leaf hash `leaf` at `index` in the tree of `size`
    leaves whose root is `root`."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    _check_hash(leaf, "the leaf hash")
    _check_hash(root, "the root")
    for item in proof:
        _check_hash(item, "a proof hash")
    fn, sn, value = index, size - 1, leaf
    for item in proof:
        if sn == 0:
            raise ProofError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            value = node_hash(item, value)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            value = node_hash(value, item)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is deep")
    if not _same(value, root):
        raise ProofError("the proof does not lead to the root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless `proof` shows the tree of `first` leaves with root `first_root`
    is a prefix of the tree of `second` leaves with root `second_root`."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if first == second:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if not _same(first_root, second_root):
            raise ProofError("two different roots for the same size")
        return
    _check_hash(first_root, "the first root")
    _check_hash(second_root, "the second root")
    for item in proof:
        _check_hash(item, "a proof hash")
    if not proof:
        raise ProofError("the proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: its root is the proof's seed
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for item in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than the trees are deep")
        if fn & 1 or fn == sn:
            fr = node_hash(item, fr)
            sr = node_hash(item, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, item)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the trees are deep")
    if not _same(fr, first_root):
        raise ProofError("the proof does not lead to the first root")
    if not _same(sr, second_root):
        raise ProofError("the proof does not lead to the second root")


# In memory -----------------------------------------------------------------------------------


class MemoryTree:
    """Every perfect node of a tree in memory: for tests, bundles and independent checks."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.nodes: dict[Node, bytes] = {}
        self._compact = CompactRange()
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        return self._compact.size

    def append(self, leaf: bytes) -> None:
        self.nodes.update(self._compact.append(leaf))

    def root(self, size: int | None = None) -> bytes:
        return hash_range(0, self.size if size is None else size, self.nodes)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        self._within(size)
        return [hash_range(a, b, self.nodes) for a, b in inclusion_ranges(index, size)]

    def consistency(self, first: int, second: int) -> list[bytes]:
        self._within(second)
        return [hash_range(a, b, self.nodes) for a, b in consistency_ranges(first, second)]

    def _within(self, size: int) -> None:
        if size > self.size:
            raise ProofError(f"the tree has {self.size} leaves, not {size}")
