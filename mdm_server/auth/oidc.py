"""Tabard as a client of the force's OpenID provider: discovery, the provider's published
keys, the authorization code flow with PKCE, the device authorization grant, and ID token
validation.

The protocol pieces come from Authlib (PKCE challenges, random tokens, RFC 7523 client
assertions) and joserfc, Authlib's own JOSE library (JWS signatures and JWK sets); this module
decides what to ask for and what to accept. References: OpenID Connect Core 1.0 §3.1 (the
code flow, §3.1.3.7 ID token validation), OpenID Connect Discovery 1.0 §4, RFC 7636 (PKCE),
RFC 8628 (device grant), RFC 7523 (private_key_jwt).

Nothing secret (client secret, codes, tokens) is ever put in a log line or an error message."""

from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7523.assertion import sign_jwt_bearer_assertion
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from mdm_server.config import Settings
from mdm_server.crypto.secrets import digest
from mdm_server.errors import AuthenticationError, ServiceUnavailableError

log = logging.getLogger(__name__)
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# Asymmetric algorithms only: never `none`, never an HMAC keyed with the client secret.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
CLOCK_SKEW = timedelta(seconds=60)
TIMEOUT_S = 10.0


class ProviderUnavailableError(ServiceUnavailableError):
    code = "provider_unavailable"


class IdTokenError(AuthenticationError):
    """An ID token Tabard refuses; the detail says why, never what the token held."""

    code = "invalid_id_token"


@dataclass(frozen=True)
class Discovery:
    """What the provider publishes at ISSUER/.well-known/openid-configuration."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    device_authorization_endpoint: str | None
    algorithms: tuple[str, ...]


@dataclass(frozen=True)
class IdClaims:
    """A validated ID token's claims, and the digest it is remembered by (replays)."""

    issuer: str
    subject: str
    expires_at: datetime
    claims: dict[str, Any]
    token_digest: str


@dataclass(frozen=True)
class DeviceStart:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int


@dataclass(frozen=True)
class TokenAnswer:
    """What the token endpoint sent: the ID token, and a refresh token when offline_access
    was granted (kept for the scheduled check)."""

    id_token: str
    refresh_token: str | None


@dataclass(frozen=True)
class DevicePending:
    """The person has not finished at the provider yet (`slow_down`: poll less often)."""

    slow_down: bool


def new_pkce_verifier() -> str:
    """A code verifier of 64 characters (RFC 7636 §4.1: 43 to 128)."""
    return str(generate_token(64))


def new_state() -> str:
    return str(generate_token(43))


class OidcClient:
    """One provider, discovered once and its keys cached; refetched when a token names a key
    the cache does not hold (the provider rotated its keys)."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None):
        if settings.oidc_issuer is None or settings.oidc_client_id is None:
            raise ValueError("single sign-on is not configured")
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.scopes = settings.oidc_scopes
        secret = settings.oidc_client_secret
        self._secret = secret.get_secret_value() if secret is not None else None
        self._signing_key = _load_private_key(settings)
        self._key_id = settings.oidc_private_key_id
        self._http = httpx.Client(timeout=TIMEOUT_S, transport=transport)
        self._lock = threading.Lock()
        self._discovery: Discovery | None = None
        self._keys: KeySet | None = None

    def close(self) -> None:
        self._http.close()

    def discovery(self) -> Discovery:
        """The provider's configuration, fetched on first use; its `issuer` must be the one
        configured, character for character (OIDC Discovery §4.3)."""
        with self._lock:
            if self._discovery is None:
                document = self._get_json(f"{self.issuer}/.well-known/openid-configuration")
                if document.get("issuer") != self.issuer:
                    raise ProviderUnavailableError(
                        "the provider's discovery document names another issuer: check "
                        "TABARD_OIDC_ISSUER is exactly the provider's issuer URL"
                    )
                try:
                    self._discovery = Discovery(
                        issuer=document["issuer"],
                        authorization_endpoint=str(document["authorization_endpoint"]),
                        token_endpoint=str(document["token_endpoint"]),
                        jwks_uri=str(document["jwks_uri"]),
                        device_authorization_endpoint=document.get("device_authorization_endpoint"),
                        algorithms=tuple(
                            document.get("id_token_signing_alg_values_supported", ["RS256"])
                        ),
                    )
                except KeyError as missing:
                    raise ProviderUnavailableError(
                        f"the provider's discovery document lacks {missing}"
                    ) from None
            return self._discovery

    def keys(self, *, refresh: bool = False) -> KeySet:
        """The provider's published signing keys (its JWKS), cached."""
        jwks_uri = self.discovery().jwks_uri
        with self._lock:
            if self._keys is None or refresh:
                document = self._get_json(jwks_uri)
                try:
                    self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
                except (JoseError, ValueError, TypeError, KeyError):
                    raise ProviderUnavailableError(
                        "the provider's published keys could not be read"
                    ) from None
            return self._keys

    def authorization_url(
        self,
        *,
        state: str,
        nonce: str,
        code_verifier: str,
        redirect_uri: str,
        step_up: bool = False,
        acr: str | None = None,
    ) -> str:
        """Where to send the browser: the code flow with PKCE (S256), `state` and `nonce`. For
        a step-up, `max_age=0` and `prompt=login` make the provider ask the person again
        (OIDC Core §3.1.2.1), and `acr_values` asks for that level of assurance when set."""
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(code_verifier),
            "code_challenge_method": "S256",
        }
        if "offline_access" in self.scopes.split():
            params["prompt"] = "consent"  # OIDC Core §11: offline access asks for consent
        if step_up:
            params["max_age"] = "0"
            params["prompt"] = " ".join(filter(None, ("login", params.get("prompt"))))
        if acr is not None:
            params["acr_values"] = acr
        endpoint = self.discovery().authorization_endpoint
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{urlencode(params)}"

    def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str) -> TokenAnswer:
        """The ID token for an authorization code (which the provider accepts only once)."""
        answer = self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )
        if "error" in answer:
            raise AuthenticationError(
                "the provider did not accept the sign-in (it may have been used already or "
                "taken too long): sign in again",
                code="sso_code_refused",
            )
        return _token_answer(answer)

    def start_device(self, *, max_age_s: int, acr: str | None = None) -> DeviceStart:
        """Ask the provider for a user code (RFC 8628 §3.1). `max_age` makes the provider say
        when the person last signed in there (`auth_time`, OIDC Core §3.1.2.1) and ask them
        again if that was longer ago; `acr_values` asks for that level of assurance."""
        endpoint = self.discovery().device_authorization_endpoint
        if endpoint is None:
            raise ProviderUnavailableError(
                "the provider does not offer the device authorization grant: sign in to the "
                "console instead, or turn the grant on at the provider"
            )
        form = {"scope": self.scopes, "max_age": str(max_age_s)}
        if acr is not None:
            form["acr_values"] = acr
        answer = self._post(endpoint, form)
        try:
            return DeviceStart(
                device_code=str(answer["device_code"]),
                user_code=str(answer["user_code"]),
                verification_uri=str(answer["verification_uri"]),
                verification_uri_complete=answer.get("verification_uri_complete"),
                expires_in=int(answer["expires_in"]),
                interval=int(answer.get("interval", 5)),
            )
        except (KeyError, TypeError, ValueError):
            raise ProviderUnavailableError(
                "the provider refused to start a device sign-in: check the client may use the "
                "device authorization grant"
            ) from None

    def poll_device(self, device_code: str) -> TokenAnswer | DevicePending:
        """The ID token once the person has approved, or that they have not yet (§3.5)."""
        answer = self._token_request({"grant_type": DEVICE_GRANT, "device_code": device_code})
        error = answer.get("error")
        if error in ("authorization_pending", "slow_down"):
            return DevicePending(slow_down=error == "slow_down")
        if error == "access_denied":
            raise AuthenticationError(
                "the sign-in was declined at the provider", code="sso_declined"
            )
        if error is not None:
            raise AuthenticationError(
                "the device sign-in expired or was already used: run tabard login --sso again",
                code="sso_expired",
            )
        return _token_answer(answer)

    def still_knows(self, refresh_token: str) -> str | None:
        """Ask the provider, with the person's refresh token, whether it still knows them: the
        refresh token to keep (rotated or not), or None when the provider refuses it
        (`invalid_grant`: the person was removed, disabled, or their grant revoked)."""
        answer = self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        error = answer.get("error")
        if error == "invalid_grant":
            return None
        if error is not None:
            raise ProviderUnavailableError(
                f"the provider refused the check ({_error_code(error)}): check the client may "
                "use refresh tokens"
            )
        rotated = answer.get("refresh_token")
        return rotated if isinstance(rotated, str) and rotated else refresh_token

    def validate_id_token(self, token: str, *, nonce: str | None, now: datetime) -> IdClaims:
        """OIDC Core §3.1.3.7: a signature by a key the provider publishes (refetching its keys
        once for a key not yet seen), an allowed asymmetric algorithm, the issuer, Tabard as
        audience (and `azp` when there are several), not expired, not issued in the future,
        and the nonce this sign-in sent, compared in constant time."""
        try:
            header = jws.extract_compact(token.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeError):
            raise IdTokenError("the ID token is not a signed token") from None
        algorithm = header.get("alg")
        if algorithm not in SIGNING_ALGORITHMS or algorithm not in self.discovery().algorithms:
            raise IdTokenError("the ID token is signed with an algorithm Tabard does not accept")
        key = self._key_for(header.get("kid"))
        try:
            decoded = jose_jwt.decode(token, key, algorithms=[str(algorithm)])
        except JoseError:
            raise IdTokenError("the ID token's signature does not verify") from None
        claims = dict(decoded.claims)
        self._check_claims(claims, nonce=nonce, now=now)
        expires_at = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
        return IdClaims(
            issuer=self.issuer,
            subject=str(claims["sub"]),
            expires_at=expires_at,
            claims=claims,
            token_digest=digest(token),
        )

    def _key_for(self, kid: object) -> Any:
        """The published key a token names; a token naming none only when the provider
        publishes a single key. ID tokens come from the token endpoint, never from the
        browser, so only the provider can send Tabard back for its keys."""
        for refresh in (False, True):
            keys = self.keys(refresh=refresh).keys
            if kid is None and len(keys) == 1:
                return keys[0]
            for key in keys:
                if kid is not None and key.kid == kid:
                    return key
        raise IdTokenError("the ID token is signed with a key the provider does not publish")

    def _check_claims(self, claims: dict[str, Any], *, nonce: str | None, now: datetime) -> None:
        if claims.get("iss") != self.issuer:
            raise IdTokenError("the ID token was issued by another provider")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences:
            raise IdTokenError("the ID token was issued for another client")
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise IdTokenError("the ID token was issued for another client")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 0 < len(subject) <= 255:
            raise IdTokenError("the ID token names nobody")
        expires, issued = claims.get("exp"), claims.get("iat")
        if not isinstance(expires, int) or not isinstance(issued, int):
            raise IdTokenError("the ID token lacks its times")
        stamp = now.timestamp()
        if expires <= stamp - CLOCK_SKEW.total_seconds():
            raise IdTokenError("the ID token has expired: sign in again")
        if issued > stamp + CLOCK_SKEW.total_seconds():
            raise IdTokenError("the ID token was issued in the future: check the clocks")
        if nonce is not None:
            given = claims.get("nonce")
            if not isinstance(given, str) or not hmac.compare_digest(
                given.encode("utf-8"), nonce.encode("utf-8")
            ):
                raise IdTokenError("the ID token belongs to another sign-in (its nonce differs)")

    def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        return self._post(self.discovery().token_endpoint, form, errors_are_answers=True)

    def _post(
        self, url: str, form: dict[str, str], *, errors_are_answers: bool = False
    ) -> dict[str, Any]:
        """A client-authenticated POST: client_secret_basic, or a private_key_jwt assertion."""
        body = {**form}
        auth: httpx.BasicAuth | None = None
        if self._signing_key is not None:
            body["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            body["client_assertion"] = self._client_assertion()
            body["client_id"] = self.client_id
        else:
            assert self._secret is not None
            # RFC 6749 §2.3.1: both form-urlencoded before they go into the Basic header.
            auth = httpx.BasicAuth(_form_encode(self.client_id), _form_encode(self._secret))
        try:
            response = self._http.post(url, data=body, auth=auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            log.warning("OpenID provider unreachable at %s: %s", url, type(exc).__name__)
            raise ProviderUnavailableError("the OpenID provider cannot be reached") from None
        return self._json_of(response, url, errors_are_answers=errors_are_answers)

    def _client_assertion(self) -> str:
        key = self._signing_key
        algorithm = "RS256" if isinstance(key, RSAKey) else "ES256"
        header: dict[str, str] = {"alg": algorithm}
        if self._key_id:
            header["kid"] = self._key_id
        assertion = sign_jwt_bearer_assertion(
            key=key,
            issuer=self.client_id,
            audience=self.discovery().token_endpoint,
            subject=self.client_id,
            header=header,
            expires_in=60,
        )
        return assertion.decode("ascii") if isinstance(assertion, bytes) else str(assertion)

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._http.get(url)
        except httpx.HTTPError as exc:
            log.warning("OpenID provider unreachable at %s: %s", url, type(exc).__name__)
            raise ProviderUnavailableError("the OpenID provider cannot be reached") from None
        return self._json_of(response, url, errors_are_answers=False)

    @staticmethod
    def _json_of(response: httpx.Response, url: str, *, errors_are_answers: bool) -> dict[str, Any]:
        if response.status_code >= 400 and not (
            errors_are_answers and response.status_code in (400, 401)
        ):
            log.warning("OpenID provider answered %s at %s", response.status_code, url)
            raise ProviderUnavailableError(
                f"the OpenID provider answered {response.status_code}: check Tabard's client "
                "registration there"
            )
        try:
            document = response.json()
        except ValueError:
            raise ProviderUnavailableError("the OpenID provider answered with no JSON") from None
        if not isinstance(document, dict):
            raise ProviderUnavailableError("the OpenID provider answered with no JSON object")
        if "error" in document:
            # The error code only: its description may echo what was sent.
            log.info("OpenID provider refused a token request: %s", document.get("error"))
        return document


def _token_answer(answer: dict[str, Any]) -> TokenAnswer:
    token = answer.get("id_token")
    if not isinstance(token, str) or not token:
        raise IdTokenError("the provider sent no ID token: ask for the openid scope")
    refresh = answer.get("refresh_token")
    return TokenAnswer(token, refresh if isinstance(refresh, str) and refresh else None)


def _error_code(error: object) -> str:
    text = str(error)
    return text if text.replace("_", "").isalnum() and len(text) <= 64 else "an error"


def _form_encode(value: str) -> str:
    return urlencode({"": value})[1:]


def _load_private_key(settings: Settings) -> RSAKey | ECKey | None:
    path = settings.oidc_private_key_file
    if path is None:
        return None
    pem = path.read_bytes()
    for kind in (RSAKey, ECKey):
        try:
            return kind.import_key(pem)
        except (JoseError, ValueError, TypeError):
            continue
    raise ValueError(f"{path} is not an RSA or EC private key in PEM")
