"""Staff accounts and their refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, LargeBinary
from sqlmodel import Field, SQLModel

from mdm_server.types import UTCDateTime


class StaffUser(SQLModel, table=True):
    """A person who signs in: IT staff, auditors, supervisors and officers. One role each, so
    that separation of duties cannot be undone by stacking roles on one account."""

    __tablename__ = "staff_users"
    __table_args__ = (
        Index("ux_staff_users_oidc_issuer_subject", "oidc_issuer", "oidc_subject", unique=True),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(default="", max_length=128)
    role: str = Field(max_length=32, index=True)
    collar_number: str | None = Field(default=None, max_length=16, unique=True)
    division: str | None = Field(default=None, max_length=64, index=True)
    password_hash: str | None = Field(default=None, max_length=256)
    must_change_password: bool = True
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sessions_valid_after: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set for an account the force's OpenID provider signs in (no local password): the
    # provider's issuer and its `sub` for the person, unique together (OIDC Core §5.7).
    oidc_issuer: str | None = Field(default=None, max_length=512)
    oidc_subject: str | None = Field(default=None, max_length=255)
    # The provider's refresh token for the person (offline_access), wrapped under the master
    # key: the scheduled check asks the provider with it whether the person is still there.
    oidc_refresh_wrapped: bytes | None = Field(default=None, sa_type=LargeBinary)

    @property
    def single_sign_on(self) -> bool:
        return self.oidc_subject is not None


class SignInClient(SQLModel, table=True):
    """Failed and successful sign-ins to one username from one address, for throttling
    (mdm_server.auth.throttle). Keyed by the username as typed, whether or not it exists."""

    __tablename__ = "sign_in_clients"

    account: str = Field(primary_key=True, max_length=200)
    address: str = Field(primary_key=True, max_length=200, index=True)
    failures: int = 0
    last_failure_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    succeeded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)


class RefreshToken(SQLModel, table=True):
    """One refresh token of a login's rotation family. A token is spent when rotated; presenting
    a spent token again means it was stolen, and revokes the whole family (RFC 9700 §4.14.2)."""

    __tablename__ = "refresh_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="staff_users.id", index=True)
    family_id: uuid.UUID = Field(index=True)
    token_digest: str = Field(max_length=64, unique=True)
    issued_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SecondFactor(SQLModel, table=True):
    """A staff member's authenticator app (TOTP, RFC 6238): one per account. The shared secret
    is kept wrapped under the server master key, bound to the account, and is shown only while
    the factor is being set up. `last_used_step` is the last 30-second step a code was accepted
    for, so that no code is accepted twice (RFC 6238 §5.2)."""

    __tablename__ = "staff_second_factors"

    user_id: uuid.UUID = Field(foreign_key="staff_users.id", primary_key=True)
    secret_wrapped: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = Field(sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_step: int | None = Field(default=None, sa_type=BigInteger)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RecoveryCode(SQLModel, table=True):
    """One of the ten codes given when a second factor is set up, for a lost phone: stored as a
    digest, each usable once."""

    __tablename__ = "staff_recovery_codes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="staff_users.id", index=True)
    code_digest: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Passkey(SQLModel, table=True):
    """A staff member's passkey: a WebAuthn public-key credential (W3C Web Authentication
    Level 3) made by their phone, laptop or security key for this server's relying party id.
    A person may have several, each with a name they chose. `credential_data` is the
    authenticator's attested credential data (AAGUID, credential id, COSE public key); no
    secret is stored. `sign_count` is the authenticator's signature counter, which must rise
    with each use when it counts at all (§6.1.1), so that a cloned authenticator shows."""

    __tablename__ = "staff_passkeys"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="staff_users.id", index=True)
    name: str = Field(max_length=64)
    credential_id: str = Field(max_length=1400, unique=True)  # base64url, as browsers send it
    credential_data: bytes = Field(sa_type=LargeBinary)
    sign_count: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PasskeyCeremony(SQLModel, table=True):
    """A WebAuthn challenge given to one account for one purpose (registering a passkey,
    signing in, stepping up), good once and for a few minutes: it is deleted when an answer
    comes, right or wrong, so no answer can be replayed."""

    __tablename__ = "staff_passkey_ceremonies"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="staff_users.id", index=True)
    purpose: str = Field(max_length=16)
    challenge: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class SeenIdToken(SQLModel, table=True):
    """An ID token Tabard has accepted, by digest, until it expires: the same token presented
    again is a replay and is refused (OIDC Core §3.1.3.7, "replay attacks")."""

    __tablename__ = "oidc_seen_id_tokens"

    token_digest: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
