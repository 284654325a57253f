"""ID token validation against a real OpenID provider (oidc-provider, tests/oidc): Tabard
reads the provider's discovery document and published keys from it, and the tokens below are
signed with the provider's own keys, altered or not as each test says (OIDC Core §3.1.3.7)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from mdm_server.auth.oidc import DevicePending, IdTokenError, OidcClient, ProviderUnavailableError
from tests.conftest import make_settings
from tests.oidc.provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    KEYED_CLIENT_ID,
    OpenIdProvider,
    new_key,
    running_provider,
)

NOW = datetime.now(UTC).replace(microsecond=0)
NONCE = "a nonce of this sign-in"


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[OpenIdProvider]:
    yield from running_provider(tmp_path, ["http://testserver/console/sso/callback"])


@pytest.fixture
def client(provider: OpenIdProvider, tmp_path: Path) -> Iterator[OidcClient]:
    oidc = OidcClient(make_settings(tmp_path / "data", **provider.settings()))
    yield oidc
    oidc.close()


def claims(provider: OpenIdProvider, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "iss": provider.issuer,
        "aud": CLIENT_ID,
        "sub": "jo.it",
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 300,
        "nonce": NONCE,
        "groups": ["tabard-it"],
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def refused(client: OidcClient, token: str, *, nonce: str | None = NONCE) -> str:
    with pytest.raises(IdTokenError) as error:
        client.validate_id_token(token, nonce=nonce, now=NOW)
    return str(error.value.detail)


def b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


class TestIdTokenValidation:
    def test_accepts_a_token_the_provider_signed(
        self, provider: OpenIdProvider, client: OidcClient
    ) -> None:
        accepted = client.validate_id_token(provider.sign(claims(provider)), nonce=NONCE, now=NOW)
        assert accepted.subject == "jo.it"
        assert accepted.issuer == provider.issuer
        assert accepted.claims["groups"] == ["tabard-it"]

    def test_refuses_a_tampered_token(self, provider: OpenIdProvider, client: OidcClient) -> None:
        header, _, signature = provider.sign(claims(provider)).split(".")
        promoted = b64(claims(provider, groups=["tabard-pst"]))
        assert "signature" in refused(client, f"{header}.{promoted}.{signature}")

    def test_refuses_an_expired_token(self, provider: OpenIdProvider, client: OidcClient) -> None:
        old = int(NOW.timestamp()) - 3600
        token = provider.sign(claims(provider, iat=old, exp=old + 300))
        assert "expired" in refused(client, token)

    def test_refuses_a_token_for_another_client(
        self, provider: OpenIdProvider, client: OidcClient
    ) -> None:
        assert "another client" in refused(client, provider.sign(claims(provider, aud="other")))
        several = claims(provider, aud=[CLIENT_ID, "other"], azp="other")
        assert "another client" in refused(client, provider.sign(several))

    def test_refuses_a_token_from_another_issuer(
        self, provider: OpenIdProvider, client: OidcClient
    ) -> None:
        token = provider.sign(claims(provider, iss="https://evil.example"))
        assert "another provider" in refused(client, token)

    def test_refuses_a_token_for_another_sign_in(
        self, provider: OpenIdProvider, client: OidcClient
    ) -> None:
        assert "nonce" in refused(client, provider.sign(claims(provider, nonce="another")))
        assert "nonce" in refused(client, provider.sign(claims(provider, nonce=None)))

    def test_refuses_a_key_the_provider_does_not_publish(
        self, provider: OpenIdProvider, client: OidcClient
    ) -> None:
        token = provider.sign(claims(provider), key=new_key())
        assert "does not publish" in refused(client, token)

    def test_refuses_unsigned_and_secret_keyed_tokens(
        self, provider: OpenIdProvider, client: OidcClient
    ) -> None:
        unsigned = f"{b64({'alg': 'none'})}.{b64(claims(provider))}."
        assert "algorithm" in refused(client, unsigned)
        # An HMAC keyed with the client secret, which anyone holding that secret could make.
        secret = OctKey.import_key(CLIENT_SECRET.encode())
        keyed = jwt.encode({"alg": "HS256"}, claims(provider), secret, algorithms=["HS256"])
        assert "algorithm" in refused(client, keyed)

    def test_refuses_what_is_not_a_token(self, client: OidcClient) -> None:
        assert "not a signed token" in refused(client, "not.a-token")


class TestKeyRotation:
    def test_a_rotated_key_is_fetched_and_the_retired_one_refused(
        self, provider: OpenIdProvider, client: OidcClient
    ) -> None:
        retired = provider.keys[0]
        client.validate_id_token(provider.sign(claims(provider)), nonce=NONCE, now=NOW)
        provider.rotate_keys()
        # Tabard still holds the old key set: the new key's `kid` sends it back for the new one.
        rotated = client.validate_id_token(provider.sign(claims(provider)), nonce=NONCE, now=NOW)
        assert rotated.subject == "jo.it"
        assert "does not publish" in refused(client, provider.sign(claims(provider), key=retired))


class TestPrivateKeyJwt:
    def test_tabard_authenticates_with_its_own_key_instead_of_a_secret(
        self, provider: OpenIdProvider, tmp_path: Path
    ) -> None:
        pem = tmp_path / "tabard-client.pem"
        pem.write_bytes(provider.client_key.as_pem(private=True))
        values = {
            **provider.settings(),
            "oidc_client_id": KEYED_CLIENT_ID,
            "oidc_client_secret": None,
            "oidc_private_key_file": pem,
            "oidc_private_key_id": provider.client_key.kid,
        }
        keyed = OidcClient(
            make_settings(tmp_path / "data", **{k: v for k, v in values.items() if v is not None})
        )
        started = keyed.start_device(
            max_age_s=300
        )  # a client-authenticated request to the provider
        assert started.user_code
        assert keyed.poll_device(started.device_code) == DevicePending(slow_down=False)
        keyed.close()

    def test_a_key_the_provider_does_not_know_is_refused(
        self, provider: OpenIdProvider, tmp_path: Path
    ) -> None:
        pem = tmp_path / "stranger.pem"
        pem.write_bytes(new_key().as_pem(private=True))
        values = {
            **provider.settings(),
            "oidc_client_id": KEYED_CLIENT_ID,
            "oidc_client_secret": None,
            "oidc_private_key_file": pem,
        }
        keyed = OidcClient(
            make_settings(tmp_path / "data", **{k: v for k, v in values.items() if v is not None})
        )
        with pytest.raises(ProviderUnavailableError, match="client registration"):
            keyed.start_device(max_age_s=300)
        keyed.close()
