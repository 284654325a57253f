"""A real OpenID provider for the tests: the certified `oidc-provider` package from the npm
registry, run under the machine's Node.js by tests/oidc/provider.mjs. Its packages come from
package-lock.json (`npm ci`, once, into a cache directory) unless tests/oidc/node_modules is
there already. The test owns its signing keys, so it can rotate them (a restart with a new
key) and sign tokens of its own with them, as a provider that misbehaves or an attacker who
altered one would present."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.e2e.harness import free_port

HERE = Path(__file__).parent
# npm ci's packages, by the lock file's digest (TABARD_* variables are cleared for tests).
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tabard-tests"
CLIENT_ID = "tabard-console"
CLIENT_SECRET = "a client secret that only the tests know"
KEYED_CLIENT_ID = "tabard-keyed"  # authenticates with private_key_jwt (RFC 7523)
START_TIMEOUT_S = 60
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
PEOPLE: dict[str, dict[str, Any]] = {
    "jo.it": {"name": "Jo Bloggs", "preferred_username": "jo.it", "groups": ["tabard-it"]},
    "sam.audit": {
        "name": "Sam Khan",
        "preferred_username": "sam.audit",
        "groups": ["staff", "tabard-pst"],
    },
    "ann.super": {
        "name": "Ann Lee",
        "preferred_username": "ann.super",
        "groups": ["tabard-supervisors"],
        "division": "North",
    },
    "kim.payroll": {"name": "Kim Cole", "preferred_username": "kim.payroll", "groups": ["payroll"]},
    "two.hats": {
        "name": "Two Hats",
        "preferred_username": "two.hats",
        "groups": ["tabard-it", "tabard-pst"],
    },
}
ROLE_MAP = {
    "tabard-it": "it_admin",
    "tabard-pst": "auditor",
    "tabard-supervisors": "supervisor",
}


def node_or_skip() -> str:
    """Node.js; CI installs it (.ci/run), so there its absence is a failure."""
    node = shutil.which("node")
    if node and shutil.which("npm"):
        return node
    if os.environ.get("CI") == "true":
        pytest.fail("node and npm are missing; .ci/run installs Debian's nodejs and npm")
    pytest.skip("the single sign-on tests need Node.js and npm (apt-get install nodejs npm)")


def provider_dir() -> Path:
    """Where provider.mjs runs with its node_modules: here, or a cache made by `npm ci`."""
    if (HERE / "node_modules" / "oidc-provider").is_dir():
        return HERE
    lock = (HERE / "package-lock.json").read_bytes()
    target = CACHE / f"oidc-provider-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not (target / "node_modules" / "oidc-provider").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(HERE / name, target / name)
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target,
            check=True,
            timeout=600,
        )
    shutil.copyfile(HERE / "provider.mjs", target / "provider.mjs")
    return target


def new_key() -> RSAKey:
    return RSAKey.generate_key(
        2048,
        parameters={"kid": uuid.uuid4().hex[:12], "use": "sig", "alg": "RS256"},
        private=True,
    )


@dataclass
class OpenIdProvider:
    """One provider on a port of its own; `redirect_uris` are Tabard's callbacks."""

    root: Path
    redirect_uris: list[str]
    port: int = field(default_factory=free_port)
    keys: list[RSAKey] = field(default_factory=lambda: [new_key()])
    people: dict[str, dict[str, Any]] = field(
        default_factory=lambda: json.loads(json.dumps(PEOPLE))
    )
    client_key: RSAKey = field(default_factory=new_key)  # the keyed client's own key
    process: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> dict[str, Any]:
        """Tabard's settings for this provider, as `make_settings` takes them."""
        return {
            "oidc_issuer": self.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
            "oidc_role_map": ROLE_MAP,
            "oidc_scopes": "openid profile groups tabard",
            "oidc_provider_name": "Example Police sign-in",
        }

    def environment(self) -> dict[str, str]:
        """The same, as `TABARD_OIDC_*` variables for `tabard serve`."""
        return {
            f"TABARD_{name.upper()}": json.dumps(value) if isinstance(value, dict) else value
            for name, value in self.settings().items()
        }

    def start(self) -> None:
        node = node_or_skip()
        directory = provider_dir()
        config = self.root / f"provider-{self.port}.json"
        config.write_text(json.dumps(self._config()), encoding="utf-8")
        process = subprocess.Popen(
            [node, str(directory / "provider.mjs"), str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.process = process
        listening = threading.Event()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                self.log.append(line)
                if "listening on" in line:
                    listening.set()
            listening.set()

        threading.Thread(target=pump, daemon=True).start()
        if not listening.wait(START_TIMEOUT_S) or process.poll() is not None:
            raise AssertionError("oidc-provider did not start:\n" + "".join(self.log))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def rotate_keys(self) -> RSAKey:
        """Retire every signing key for a new one, as a provider's scheduled rotation does
        (the provider restarts with its new key set)."""
        key = new_key()
        self.keys = [key]
        self.stop()
        self.start()
        return key

    def put_person(self, login: str, claims: dict[str, Any]) -> None:
        self.people[login] = claims
        answer = httpx.put(f"{self.issuer}/_test/users/{login}", json=claims)
        assert answer.status_code == 204, answer.text

    def remove_person(self, login: str) -> None:
        self.people.pop(login, None)
        answer = httpx.delete(f"{self.issuer}/_test/users/{login}")
        assert answer.status_code == 204, answer.text

    def sign(self, claims: dict[str, Any], *, key: RSAKey | None = None, alg: str = "RS256") -> str:
        """An ID token signed with the provider's current key (or `key`)."""
        key = key or self.keys[0]
        header = {"alg": alg, "kid": key.kid}
        return jwt.encode(header, claims, key, algorithms=[alg])

    def _config(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "port": self.port,
            "clients": [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": self.redirect_uris,
                    "grant_types": ["authorization_code", "refresh_token", DEVICE_GRANT],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "client_secret_basic",
                },
                {
                    "client_id": KEYED_CLIENT_ID,
                    "redirect_uris": self.redirect_uris,
                    "grant_types": ["authorization_code", DEVICE_GRANT],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "token_endpoint_auth_signing_alg": "RS256",
                    "jwks": {"keys": [self.client_key.as_dict(private=False)]},
                },
            ],
            "jwks": {"keys": [key.as_dict(private=True) for key in self.keys]},
            "users": self.people,
        }


@dataclass
class ProviderBrowser:
    """A person at the provider's own pages, by plain HTTP: its built-in sign-in form (any
    password) and consent page, and its device-code page."""

    provider: OpenIdProvider
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    logins: int = 0  # how many times the provider asked this person to sign in

    def authorize(self, url: str, *, login: str, until: str) -> str:
        """Follow an authorization request through sign-in and consent to the redirect back to
        `until` (not followed): that URL, with its code and state."""
        answer = self.http.get(url)
        return self._through(answer, login=login, until=until)

    def approve_device(self, user_code: str, *, login: str) -> str:
        """Type the user code at the provider's device page, sign in and consent; the text of
        the page it ends on."""
        page = self.http.get(f"{self.provider.issuer}/device")
        action, fields = _form(page.text)
        answer = self.http.post(action, data={**fields, "user_code": user_code})
        while answer.status_code == 200 and "<form" in answer.text:
            action, fields = _form(answer.text)
            if fields.get("prompt") == "login":
                fields.update(login=login, password="any password")
                self.logins += 1
            elif "confirm" in answer.text and "xsrf" in fields:
                fields["confirm"] = "yes"
            answer = self.http.post(action, data=fields)
            answer = self._follow(answer)
        return self._follow(answer).text

    def _follow(self, answer: httpx.Response) -> httpx.Response:
        while answer.status_code in (302, 303):
            answer = self.http.get(_location(answer))
        return answer

    def _through(self, answer: httpx.Response, *, login: str, until: str) -> str:
        for _ in range(20):
            if answer.status_code in (302, 303):
                location = _location(answer)
                if location.startswith(until):
                    return location
                answer = self.http.get(location)
                continue
            assert answer.status_code == 200, answer.text
            action, fields = _form(answer.text)
            if fields.get("prompt") == "login":
                fields.update(login=login, password="any password")
                self.logins += 1
            answer = self.http.post(action, data=fields)
        raise AssertionError("the provider's pages went round in circles")


def _location(answer: httpx.Response) -> str:
    return str(answer.url.join(answer.headers["location"]))


def _form(html: str) -> tuple[str, dict[str, str]]:
    action = re.findall(r'<form[^>]*action="([^"]+)"', html)[0]
    hidden = re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html)
    return action, dict(hidden)


def running_provider(root: Path, redirect_uris: list[str]) -> Iterator[OpenIdProvider]:
    provider = OpenIdProvider(root, redirect_uris)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
