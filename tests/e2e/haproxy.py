"""A real load balancer in front of several `tabard serve` nodes: Debian's haproxy in the
foreground, on loopback, balancing round robin and taking a node out of the pool when its
readiness check (`/api/v1/ready`) fails; and nodes over one database sharing one `keys/`
directory, as hosts sharing a mounted volume would."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.e2e.daemons import ForegroundDaemon
from tests.e2e.harness import Tabard

HAPROXY = shutil.which("haproxy")
# Each device request labelled with the device whose assertion it carries (its `iss`), as the
# request id every node logs with its access line: the nodes' own logs then show which device
# each of them served. For tests and benchmarks only: a request id is the caller's to choose.
LABEL_DEVICE_REQUESTS = (
    "http-request set-header X-Request-ID "
    "\"%[http_auth_bearer,jwt_payload_query('\\$.iss')].%[rand,hex]\" "
    "if { path_beg /api/v1/device/ } { http_auth_bearer -m found }"
)


def haproxy_or_skip() -> str:
    """The haproxy binary; CI installs it (.ci/run), so there its absence is a failure."""
    if HAPROXY:
        return HAPROXY
    if os.environ.get("CI") == "true":
        pytest.fail("haproxy is missing; .ci/run installs Debian's haproxy")
    pytest.skip("the load balancer tests need haproxy (apt-get install haproxy)")


class HAProxy(ForegroundDaemon):
    """`start()` and `stop()`; the port stays the same. `backends` are the nodes' ports."""

    name = "haproxy"

    def __init__(
        self,
        root: Path,
        backends: list[int],
        *,
        port: int | None = None,
        frontend: tuple[str, ...] = (),
    ) -> None:
        super().__init__(port=port)
        self.root = root
        self.backends = backends
        self.frontend = frontend
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "haproxy.cfg"
        self.config.write_text(self._config())

    def _config(self) -> str:
        servers = [
            f"    server node{n} 127.0.0.1:{port} check" for n, port in enumerate(self.backends)
        ]
        return "\n".join(
            [
                "global",
                "    maxconn 4096",
                "defaults",
                "    mode http",
                "    timeout connect 2s",
                # A node busy with load answers its readiness check late, not never.
                "    timeout check 5s",
                # Above the device long poll's hold (wait=25 s; docs/device-protocol.md 8.3).
                "    timeout client 65s",
                "    timeout server 65s",
                "    timeout http-keep-alive 30s",
                # A request to a node that has just stopped goes to another node.
                "    retries 3",
                "    option redispatch",
                "frontend tabard",
                f"    bind 127.0.0.1:{self.port}",
                *(f"    {line}" for line in self.frontend),
                "    default_backend nodes",
                "backend nodes",
                "    balance roundrobin",
                "    option httpchk GET /api/v1/ready",
                "    http-check expect status 200",
                "    default-server inter 1s fall 3 rise 1",
                *servers,
                "",
            ]
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [haproxy_or_skip(), "-db", "-f", str(self.config)]


def nodes_sharing_keys(
    root: Path, count: int, *, database_url: str | None, public_url: str, extra_env: dict[str, str]
) -> list[Tabard]:
    """`count` installs over one database, each with a data directory of its own whose
    `keys/` is one shared directory, all answering devices at `public_url` (the balancer)."""
    keys = root / "keys"
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    nodes = []
    for n in range(count):
        node = Tabard(
            root / f"node{n}",
            database_url=database_url,
            extra_env={**extra_env, "TABARD_PUBLIC_URL": public_url},
        )
        (node.root / "data").mkdir(mode=0o700, parents=True, exist_ok=True)
        (node.root / "data" / "keys").symlink_to(keys, target_is_directory=True)
        nodes.append(node)
    return nodes
