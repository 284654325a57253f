"""Staff access tokens: short-lived JWTs signed with the server's Ed25519 key (EdDSA, RFC 8037).

The algorithm is pinned on both sides; times are checked against the server's clock rather than
PyJWT's, so tests can move time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519

from mdm_server.config import Settings
from mdm_server.errors import AuthenticationError

ALGORITHM = "EdDSA"
KEY_FILE = "staff-tokens.key"
# How far ahead of the server's clock a token may say it was issued (several API nodes).
CLOCK_SKEW = timedelta(seconds=30)
# How long after the password the code may come.
CHALLENGE_TTL = timedelta(minutes=5)
# Authentication method references for a second factor: a one-time code and a proof of
# possession of a hardware-secured key (a passkey), both RFC 8176; and `fed`, Tabard's own,
# for a sign-in at the force's OpenID provider, whose own methods (`amr`, which providers
# fill in unevenly and not always from RFC 8176) Tabard did not see and does not repeat.
FACTOR_METHODS = ("otp", "hwk", "fed")
FEDERATED = "fed"


@dataclass(frozen=True)
class StaffClaims:
    user_id: uuid.UUID
    username: str
    roles: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    token_id: str
    password_change_required: bool
    factor_enrolment_required: bool = False
    factor_at: datetime | None = None  # when a second factor was last used (step-up)
    family_id: uuid.UUID | None = None  # the sign-in's refresh-token family (`sid`)


@dataclass(frozen=True)
class Challenge:
    """A password accepted, waiting for the second factor."""

    user_id: uuid.UUID
    username: str
    issued_at: datetime


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    expires_at: datetime


class StaffTokens:
    """Issues and verifies staff access tokens."""

    def __init__(self, key: ed25519.Ed25519PrivateKey, settings: Settings) -> None:
        self._key = key
        self._public = key.public_key()
        self._issuer = settings.staff_token_issuer
        self._audience = settings.staff_token_audience
        self._ttl = timedelta(seconds=settings.access_token_ttl_s)
        self._challenge_audience = f"{self._audience}#second-factor"

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        username: str,
        role: str,
        password_change_required: bool,
        now: datetime,
        factor_enrolment_required: bool = False,
        factor_at: datetime | None = None,
        family_id: uuid.UUID | None = None,
        factor_method: str = "otp",
    ) -> IssuedAccessToken:
        """`factor_at` says when a second factor was used, as `auth_time` with `amr` (RFC 8176)
        do: `otp` for a code, `hwk` for a passkey (after the password, `pwd`), `fed` alone for
        a sign-in at the force's provider; only tokens issued on a factor carry it.
        `family_id` names the sign-in's refresh-token family (as `sid`), so that revoking the
        family ends its access tokens too."""
        expires_at = now + self._ttl
        claims: dict[str, object] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "name": username,
            "roles": [role],
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": uuid.uuid4().hex,
            "pwd_change": password_change_required,
            "mfa_enrol": factor_enrolment_required,
        }
        if factor_at is not None:
            method = factor_method if factor_method in FACTOR_METHODS else "otp"
            claims["amr"] = [FEDERATED] if method == FEDERATED else ["pwd", method]
            claims["auth_time"] = int(factor_at.timestamp())
        if family_id is not None:
            claims["sid"] = str(family_id)
        return IssuedAccessToken(jwt.encode(claims, self._key, algorithm=ALGORITHM), expires_at)

    def issue_challenge(
        self, *, user_id: uuid.UUID, username: str, now: datetime
    ) -> IssuedAccessToken:
        """A token saying the password was right, good only for sending a code within
        CHALLENGE_TTL: it has its own audience, so no route takes it as an access token."""
        expires_at = now + CHALLENGE_TTL
        claims = {
            "iss": self._issuer,
            "aud": self._challenge_audience,
            "sub": str(user_id),
            "name": username,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return IssuedAccessToken(jwt.encode(claims, self._key, algorithm=ALGORITHM), expires_at)

    def verify_challenge(self, token: str, *, now: datetime) -> Challenge:
        """The account a sign-in challenge is for, or 401 when it is not one or has expired."""
        try:
            claims = jwt.decode(
                token,
                self._public,
                algorithms=[ALGORITHM],
                audience=self._challenge_audience,
                issuer=self._issuer,
                options={
                    "require": ["iss", "aud", "sub", "iat", "exp"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
            issued_at = datetime.fromtimestamp(int(claims["iat"]), tz=now.tzinfo)
            expires_at = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
            user_id = uuid.UUID(str(claims["sub"]))
        except (jwt.PyJWTError, TypeError, ValueError):
            raise AuthenticationError(
                "sign-in challenge not recognised; sign in again with your password",
                code="invalid_challenge",
            ) from None
        if now >= expires_at or expires_at - issued_at > CHALLENGE_TTL:
            raise AuthenticationError(
                "sign-in challenge expired; sign in again with your password",
                code="invalid_challenge",
            )
        return Challenge(user_id=user_id, username=str(claims.get("name", "")), issued_at=issued_at)

    def verify(self, token: str, *, now: datetime) -> StaffClaims:
        """The claims of a valid token, or 401. Only EdDSA is accepted."""
        try:
            claims = jwt.decode(
                token,
                self._public,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": ["iss", "aud", "sub", "iat", "exp", "jti", "roles"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"access token rejected: {_why(exc)}") from None
        try:
            issued_at = datetime.fromtimestamp(int(claims["iat"]), tz=now.tzinfo)
            expires_at = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
            user_id = uuid.UUID(str(claims["sub"]))
            roles = tuple(str(role) for role in claims["roles"])
        except (TypeError, ValueError):
            raise AuthenticationError("access token rejected: malformed claims") from None
        if now >= expires_at:
            raise AuthenticationError("access token expired; refresh it or log in again")
        if issued_at > now + CLOCK_SKEW:
            raise AuthenticationError("access token issued in the future")
        # A signature proves who issued the token, not that it was issued as configured: a
        # token living longer than the configured lifetime was not made by `issue`.
        if expires_at - issued_at > self._ttl:
            raise AuthenticationError(
                "access token lives longer than this server issues them; log in again"
            )
        return StaffClaims(
            user_id=user_id,
            username=str(claims.get("name", "")),
            roles=roles,
            issued_at=issued_at,
            expires_at=expires_at,
            token_id=str(claims["jti"]),
            password_change_required=bool(claims.get("pwd_change", False)),
            factor_enrolment_required=bool(claims.get("mfa_enrol", False)),
            factor_at=_factor_at(claims, now),
            family_id=_family_id(claims),
        )


def _family_id(claims: dict[str, object]) -> uuid.UUID | None:
    sid = claims.get("sid")
    if sid is None:
        return None
    try:
        return uuid.UUID(str(sid))
    except ValueError:
        raise AuthenticationError("access token names no sign-in it could belong to") from None


def _factor_at(claims: dict[str, object], now: datetime) -> datetime | None:
    amr, when = claims.get("amr"), claims.get("auth_time")
    if not isinstance(amr, list) or not any(method in amr for method in FACTOR_METHODS):
        return None
    if not isinstance(when, int):
        return None
    return datetime.fromtimestamp(when, tz=now.tzinfo)


def _why(exc: jwt.PyJWTError) -> str:
    """PyJWT's refusal in words (its own messages can quote Python's codec errors)."""
    if isinstance(exc, jwt.InvalidAudienceError):
        return "it was issued for another audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "it was issued by another server"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"it lacks the `{exc.claim}` claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "its signature does not verify"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return f"it must be signed with {ALGORITHM}"
    return "it is not a well-formed token; log in again"
