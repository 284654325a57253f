"""How a proof reads the stored tree's nodes, and the in-process cache it reads through.

A perfect subtree's hash never changes once committed (`audit_tree_nodes` is insert-only), so
a node read once may be kept. What a proof needs, and how each part is read:

- **Levels 0 to 2**: the node is hashed from its leaves, and the leaves are read as the aligned
  group of 8 that holds them, one range of the primary key. A random proof's three lowest
  nodes are its leaf's neighbours, different for nearly every proof, so caching them buys
  nothing; one range costs about what one point lookup does, and three lookups cost three.
- **Levels from `block_from(size)` up**: read and kept in aligned blocks of 256 nodes of one
  level (8 KiB of hashes), least recently used out beyond the capacity. Every proof's nodes
  near the root sit in a few blocks, and a random proof's middle levels soon do: over a
  million events, levels 3 and up are 988 blocks (7.7 MiB), read once each. A block at the
  log's right edge is kept as far as it was filled, and only its missing tail is read again.
- **The levels between**, when a log is too large for its blocks from level 3 up to fit in
  the capacity: read by point, not kept (blocks there would be read and evicted again).

Everything a proof lacks comes in one query with the head (repository.head_and_spans).

Only proofs use the cache. Roots that check the store against signed checkpoints (`tabard
audit verify`, signing the next checkpoint) read the store itself, so an edited node still
shows. A log that shrinks (a database restored from an old snapshot) empties the cache the
first time a proof sees the lower head. One cache per engine, or per connection where a unit
of work is bound to one (as tests are)."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable

from sqlalchemy.engine import Connection, Engine

from mdm_server.audit.merkle import HASH_SIZE, Node, node_hash

BLOCK = 256  # nodes of one level per cached block
GROUP_LEVELS = 3  # nodes below this level are hashed from an aligned group of 2**3 leaves
CAPACITY = 2048  # blocks: 16 MiB of hashes; levels 3 and up of a log of two million events

Block = tuple[int, int]  # (level, block number)
Span = tuple[int, int, int]  # nodes of one level to read: (level, first index, end index)


class Plan:
    """What one proof found in the cache and what it must read: spans of the primary key."""

    def __init__(self) -> None:
        self.found: dict[Node, bytes] = {}
        self.groups: set[int] = set()  # leaf groups, by number
        self.points: set[Node] = set()
        self.blocks: dict[Block, int] = {}  # block -> the first index to read in it

    def spans(self) -> list[Span]:
        width = 1 << GROUP_LEVELS
        spans = [(0, group * width, (group + 1) * width) for group in sorted(self.groups)]
        spans += [(level, idx, idx + 1) for level, idx in sorted(self.points)]
        spans += [
            (level, first, (number + 1) * BLOCK)
            for (level, number), first in sorted(self.blocks.items())
        ]
        return spans


class NodeCache:
    """Blocks of node hashes by (level, block number), least recently used evicted beyond
    `capacity` blocks. A block holds the hashes of its first nodes, in order, as one bytes."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self.head = 0  # the largest tree size a proof has seen
        self._blocks: OrderedDict[Block, bytes] = OrderedDict()
        self._block_from: tuple[tuple[int, int], int] = ((-1, -1), GROUP_LEVELS)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """The nodes held."""
        with self._lock:
            return sum(len(value) for value in self._blocks.values()) // HASH_SIZE

    @property
    def blocks(self) -> int:
        return len(self._blocks)

    def block_from(self, size: int) -> int:
        """The lowest level kept in blocks for a tree of `size` leaves: every block from that
        level up fits in the capacity."""
        if self._block_from[0] != (size, self.capacity):
            level = GROUP_LEVELS
            while _blocks_from(level, size) > self.capacity:
                level += 1
            self._block_from = ((size, self.capacity), level)
        return self._block_from[1]

    def plan(self, wanted: Iterable[Node], size: int) -> Plan:
        """Split the nodes a proof in the tree of `size` leaves needs into those cached and
        the spans to read."""
        plan = Plan()
        lowest_block = self.block_from(max(size, self.head))
        found, blocks = plan.found, self._blocks
        with self._lock:
            for node in wanted:
                level, idx = node
                if level < GROUP_LEVELS:
                    plan.groups.add(idx >> (GROUP_LEVELS - level))
                elif level < lowest_block:
                    plan.points.add(node)
                else:
                    number, offset = divmod(idx, BLOCK)
                    key = (level, number)
                    block = blocks.get(key)
                    if block is None:
                        plan.blocks[key] = number * BLOCK
                        continue
                    blocks.move_to_end(key)
                    start = offset * HASH_SIZE
                    if start < len(block):
                        found[node] = block[start : start + HASH_SIZE]
                    else:
                        plan.blocks[key] = number * BLOCK + len(block) // HASH_SIZE
        return plan

    def take(
        self, plan: Plan, wanted: Iterable[Node], read: dict[Node, bytes]
    ) -> dict[Node, bytes]:
        """The wanted nodes, from what the plan found and what its spans read (nodes absent
        from the store are absent here too); the blocks read are kept."""
        if plan.blocks:
            with self._lock:
                for key, first in plan.blocks.items():
                    self._extend(key, first, read)
        nodes = plan.found
        for node in wanted:
            if node in nodes:
                continue
            value = read.get(node) if node[0] >= GROUP_LEVELS else _from_leaves(node, read)
            if value is not None:
                nodes[node] = value
        return nodes

    def _extend(self, key: Block, first: int, read: dict[Node, bytes]) -> None:
        """Add the nodes read from `first` on to a block, as far as they run without a gap."""
        level, number = key
        held = self._blocks.get(key, b"")
        idx = number * BLOCK + len(held) // HASH_SIZE
        if idx < first:  # evicted or emptied since it was planned: the read does not join on
            return
        more = []
        while idx < (number + 1) * BLOCK and (level, idx) in read:
            more.append(read[(level, idx)])
            idx += 1
        if more:
            self._blocks[key] = held + b"".join(more)
            self._blocks.move_to_end(key)
            while len(self._blocks) > self.capacity:
                self._blocks.popitem(last=False)

    def saw_head(self, head: int) -> bool:
        """Note the log's size as a proof read it; False (and the cache emptied) if the log
        is shorter than one seen before, so nothing cached may be trusted."""
        with self._lock:
            if head >= self.head:
                self.head = head
                return True
            self._blocks.clear()
            self.head = head
            return False


def _blocks_from(level: int, size: int) -> int:
    """How many blocks levels `level` and up of a tree of `size` leaves fill."""
    count = 0
    nodes = size >> level
    while nodes:
        count += -(-nodes // BLOCK)
        nodes >>= 1
    return count


def _from_leaves(node: Node, read: dict[Node, bytes]) -> bytes | None:
    """A node below GROUP_LEVELS hashed from the leaves read under it; None if one is
    missing."""
    level, idx = node
    if level == 0:
        return read.get(node)
    left = _from_leaves((level - 1, 2 * idx), read)
    right = _from_leaves((level - 1, 2 * idx + 1), read)
    return node_hash(left, right) if left is not None and right is not None else None


_CACHES: weakref.WeakKeyDictionary[Engine | Connection, NodeCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def for_bind(bind: Engine | Connection) -> NodeCache:
    """The cache for this engine (or connection)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(bind)
        if cache is None:
            cache = _CACHES[bind] = NodeCache()
        return cache
