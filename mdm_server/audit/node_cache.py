"""An in-process cache of the stored tree's node hashes, for serving proofs.

A perfect subtree's hash never changes once committed (`audit_tree_nodes` is insert-only), so
a node read once may be kept. The cache is bounded (least recently used out first): the
nodes near the root are on every proof's path and stay, the leaves' neighbours come and go.
One cache per engine, or per connection where a unit of work is bound to one (as tests are).

Only proofs use it. Roots that check the store against signed checkpoints (`tabard audit
verify`, signing the next checkpoint) read the store itself, so an edited node still shows.
A log that shrinks (a database restored from an old snapshot) empties the cache the first time
a proof sees the lower head."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable

from sqlalchemy.engine import Connection, Engine

from mdm_server.audit.merkle import Node

CAPACITY = 1 << 16  # nodes: about 15 MiB (see BENCHMARKS.md); the top 16 levels of any tree


class NodeCache:
    """Node hashes by (level, index), least recently used evicted beyond `capacity`."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self.head = 0  # the largest tree size a proof has seen
        self._nodes: OrderedDict[Node, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._nodes)

    def get(self, wanted: Iterable[Node]) -> dict[Node, bytes]:
        """The cached nodes among `wanted`."""
        found: dict[Node, bytes] = {}
        with self._lock:
            for node in wanted:
                value = self._nodes.get(node)
                if value is not None:
                    self._nodes.move_to_end(node)
                    found[node] = value
        return found

    def add(self, nodes: dict[Node, bytes]) -> None:
        with self._lock:
            self._nodes.update(nodes)
            while len(self._nodes) > self.capacity:
                self._nodes.popitem(last=False)

    def saw_head(self, head: int) -> bool:
        """Note the log's size as a proof read it; False (and the cache emptied) if the log
        is shorter than one seen before, so nothing cached may be trusted."""
        with self._lock:
            if head >= self.head:
                self.head = head
                return True
            self._nodes.clear()
            self.head = head
            return False


_CACHES: weakref.WeakKeyDictionary[Engine | Connection, NodeCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def for_bind(bind: Engine | Connection) -> NodeCache:
    """The cache for this engine (or connection)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(bind)
        if cache is None:
            cache = _CACHES[bind] = NodeCache()
        return cache
