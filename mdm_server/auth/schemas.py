"""API shapes for login, tokens and staff accounts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from mdm_server.validation import CollarNumber, DisplayName, Division, Password, Username

StaffRole = Literal["it_admin", "auditor", "supervisor", "officer", "missing_persons", "mash"]
OpaqueToken = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Password


class RefreshRequest(Strict):
    refresh_token: OpaqueToken


class PasswordChange(Strict):
    current_password: Password
    new_password: Password


class UserPublic(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    role: str
    collar_number: str | None
    division: str | None
    must_change_password: bool
    disabled: bool
    sign_in_throttled_until: datetime | None = Field(
        default=None,
        description="Until when some address that failed to sign in to this account must "
        "wait before trying again (set in IT's account listings; the person can still sign in "
        "from elsewhere).",
    )
    created_at: datetime
    last_login_at: datetime | None


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    password_change_required: bool
    second_factor_enrolment_required: bool = Field(
        default=False,
        description="IT administrators and auditors must set up a second factor "
        "(POST /api/v1/auth/mfa/enrol) before anything else.",
    )
    user: UserPublic


FactorMethod = Literal["totp", "passkey"]


class SecondFactorChallenge(BaseModel):
    """The password was right; send a code from the authenticator app (or a recovery code)
    with this challenge to POST /api/v1/auth/login/code."""

    second_factor_required: Literal[True] = True
    challenge_token: str
    expires_at: datetime
    methods: list[FactorMethod] = Field(
        default_factory=lambda: list[FactorMethod](["totp"]),
        description="The second factors the account has: `totp` (send a code to "
        "POST /api/v1/auth/login/code) and `passkey` (POST /api/v1/auth/login/passkey/options, "
        "then POST /api/v1/auth/login/passkey).",
    )


SixDigitsOrRecovery = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=6, max_length=32)
]


class CodeLogin(Strict):
    challenge_token: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    code: SixDigitsOrRecovery


class CodeRequest(Strict):
    code: SixDigitsOrRecovery


class FactorEnrolment(BaseModel):
    secret: str = Field(
        description="The base32 secret, for apps that cannot scan; shown only "
        "until the factor is confirmed."
    )
    otpauth_uri: str
    qr_svg_url: str


class FactorConfirmed(BaseModel):
    recovery_codes: list[str] = Field(description="Ten codes, each usable once; shown only now.")
    tokens: TokenPair


class FactorStatus(BaseModel):
    enrolled: bool
    pending: bool
    required: bool
    confirmed_at: datetime | None
    last_used_at: datetime | None
    recovery_codes_left: int


ChallengeToken = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
PasskeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
WebAuthnCredential = Annotated[
    dict[str, Any],
    Field(
        description="The PublicKeyCredential the browser returned, as its toJSON() gives it "
        "(W3C WebAuthn Level 3, RegistrationResponseJSON or AuthenticationResponseJSON)."
    ),
]


class PasskeyOptions(BaseModel):
    """A challenge for a passkey: pass `public_key` to PublicKeyCredential.
    parseCreationOptionsFromJSON (registering) or parseRequestOptionsFromJSON (signing in),
    then send the answer back with `ceremony_id` before `expires_at`. Good once."""

    ceremony_id: uuid.UUID
    public_key: dict[str, Any]
    expires_at: datetime


class PasskeyRegistration(Strict):
    ceremony_id: uuid.UUID
    name: PasskeyName = Field(description="What you will know it by: `Work phone`, `YubiKey`.")
    credential: WebAuthnCredential


class PasskeyChallengeRequest(Strict):
    challenge_token: ChallengeToken


class PasskeyLogin(Strict):
    challenge_token: ChallengeToken
    ceremony_id: uuid.UUID
    credential: WebAuthnCredential


class PasskeyAssertion(Strict):
    ceremony_id: uuid.UUID
    credential: WebAuthnCredential


class PasskeyPublic(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None


class UserCreate(Strict):
    username: Username
    role: StaffRole
    display_name: DisplayName = ""
    collar_number: CollarNumber | None = None
    division: Division | None = None
    password: Password | None = Field(
        default=None,
        description="Initial password. Omit it to have the server generate a one-time password. "
        "Either way the user must change it at first login.",
    )


class UserCreated(UserPublic):
    one_time_password: str | None = Field(
        default=None, description="Shown once, only when the server generated it."
    )


class UserPage(BaseModel):
    items: list[UserPublic]
    total: int
    limit: int
    offset: int


class SsoStatus(BaseModel):
    enabled: bool
    provider_name: str | None = None
    issuer: str | None = None
    device_sign_in: bool = Field(
        default=False, description="Whether `tabard login --sso` (the device grant) works here."
    )


class DeviceSignInStarted(BaseModel):
    """Open `verification_uri` on any device, sign in there and type `user_code`; meanwhile
    send `poll_token` to POST /api/v1/auth/sso/device/token every `interval` seconds."""

    verification_uri: str
    verification_uri_complete: str | None
    user_code: str
    expires_at: datetime
    interval: int
    poll_token: str


class DeviceSignInPending(BaseModel):
    """The person has not finished at the provider yet: ask again after `interval` seconds."""

    pending: Literal[True] = True
    interval: int


class DevicePoll(Strict):
    poll_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
