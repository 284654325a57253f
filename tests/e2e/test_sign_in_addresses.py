"""Behind a proxy: `tabard serve --trusted-proxies` believes the proxy's X-Forwarded-For, so
sign-in throttling and the audit log see each client's own address; without it, nobody's
header is believed (a client cannot pick the address it is throttled under)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.agents import audit_trail
from tests.e2e.harness import Tabard

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough passphrase"


def fail_sign_in(tabard: Tabard, forwarded_for: str) -> int:
    answer = httpx.post(
        f"{tabard.url}/api/v1/auth/login",
        json={"username": "admin", "password": "not the password at all"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return answer.status_code


class TestTrustedProxies:
    def test_the_named_proxy_is_believed(self, tabard: Tabard) -> None:
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving("--trusted-proxies", "127.0.0.1"):
            assert fail_sign_in(tabard, "203.0.113.9") == 401
        (failed,) = [e for e in audit_trail(tabard) if e.action == "auth.login_failed"]
        assert failed.source_ip == "203.0.113.9"

    def test_without_it_no_header_is_believed(self, tabard: Tabard) -> None:
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving():
            assert fail_sign_in(tabard, "203.0.113.9") == 401
        (failed,) = [e for e in audit_trail(tabard) if e.action == "auth.login_failed"]
        assert failed.source_ip == "127.0.0.1"
