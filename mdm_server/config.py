"""Server settings, read from `TABARD_*` environment variables when the app is built."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mdm_server.logs import LogFormat

MAX_ACCESS_TOKEN_TTL_S = 15 * 60
OIDC_ROLES = ("it_admin", "auditor", "supervisor", "officer", "missing_persons", "mash")
SIEM_SCHEMES = ("syslog+tls", "syslog+tcp", "https", "http")


class Settings(BaseSettings):
    """Everything the server can be told. Built inside `create_app`, never at import."""

    model_config = SettingsConfigDict(env_prefix="TABARD_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=Path("var"), description="Keys, the SQLite database and other state."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Default: SQLite at DATA_DIR/tabard.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The URL devices and staff reach the server at; also the device audience.",
    )

    access_token_ttl_s: int = Field(
        default=MAX_ACCESS_TOKEN_TTL_S,
        ge=30,
        description="Staff access token lifetime; 15 minutes at most.",
    )
    refresh_token_ttl_s: int = Field(
        default=12 * 3600, ge=300, le=30 * 86400, description="How long a login lasts unused."
    )
    login_free_failures: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Failed sign-ins to one account from one address before each further "
        "attempt from there must wait (twice as long each time).",
    )
    login_free_failures_per_address: int = Field(
        default=30,
        ge=1,
        le=10_000,
        description="Failed sign-ins from one address, over all accounts, before it must wait.",
    )
    login_spread_addresses: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description="Addresses failing on one account before addresses that never signed in "
        "to it must wait.",
    )
    login_delay_base_s: float = Field(
        default=1.0, gt=0, le=60, description="The first wait once the free failures are spent."
    )
    login_delay_cap_s: float = Field(
        default=15 * 60, ge=1, le=86_400, description="The longest wait between two attempts."
    )
    login_failure_memory_s: int = Field(
        default=86_400, ge=60, description="How long a failed sign-in is remembered."
    )
    second_factor_required: bool = Field(
        default=False,
        description="IT administrators and auditors must set up a second factor (TOTP) before "
        "anything else. Off until the console can enrol one; the API and CLI already can.",
    )
    step_up_max_age_s: int = Field(
        default=300,
        ge=30,
        le=3600,
        description="How recently a second factor must have been used for an action that "
        "cannot be undone (approving a wipe, a fleet-wide policy, an evidential export).",
    )

    oidc_issuer: str | None = Field(
        default=None,
        description="The force's OpenID provider, by its issuer URL (discovery is read from "
        "ISSUER/.well-known/openid-configuration). Unset: no single sign-on, local accounts only.",
    )
    oidc_client_id: str | None = Field(
        default=None, max_length=256, description="Tabard's client id at the provider."
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="Tabard's client secret (client_secret_basic)."
    )
    oidc_private_key_file: Path | None = Field(
        default=None,
        description="Instead of a secret, a PEM private key (RSA or EC) Tabard signs its "
        "client assertions with (private_key_jwt, RFC 7523); register its public key at the "
        "provider.",
    )
    oidc_private_key_id: str | None = Field(
        default=None, max_length=256, description="The `kid` the provider knows that key by."
    )
    oidc_scopes: str = Field(
        default="openid profile email",
        max_length=512,
        description="Scopes asked for, space-separated; must include openid.",
    )
    oidc_role_claim: str = Field(
        default="groups",
        max_length=128,
        description="The ID token claim holding the person's groups or app roles.",
    )
    oidc_role_map: dict[str, str] = Field(
        default_factory=dict,
        description='Which claim value gives which Tabard role, as JSON: {"GROUP": "ROLE"}. '
        "A person whose values give no role, or two, is refused.",
    )
    oidc_username_claim: str = Field(
        default="preferred_username",
        max_length=128,
        description="The claim a new account's username is taken from.",
    )
    oidc_check_minutes: int = Field(
        default=60,
        ge=5,
        le=7 * 24 * 60,
        description="How often every single sign-on account is checked with the provider "
        "(with its refresh token; needs offline_access in oidc_scopes): a person the provider "
        "no longer knows is disabled.",
    )
    oidc_step_up_acr: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="The authentication context class (`acr`) a sign-in at the provider must "
        "have to count as a step-up: asked for as `acr_values`, and an ID token saying another "
        "is not taken as a fresh second factor. Unset: any fresh sign-in there counts.",
    )
    oidc_provider_name: str = Field(
        default="your force's sign-in",
        max_length=64,
        description="What the console's sign-in button calls the provider.",
    )

    device_certificate_days: int = Field(
        default=365, ge=1, le=825, description="Validity of the certificates the device CA issues."
    )
    device_certificate_renew_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="Renew a device's certificate when it has fewer days than this left.",
    )
    device_clock_skew_s: int = Field(
        default=30, ge=0, le=300, description="Tolerance for device clocks in assertion times."
    )
    checkin_interval_s: int = Field(
        default=300, ge=10, le=86400, description="How often devices are told to check in."
    )
    posture_history_limit: int = Field(
        default=50, ge=1, le=10_000, description="Posture changes kept per device."
    )
    device_key_cache: int = Field(
        default=20_000,
        ge=100,
        description="Devices whose certificate each worker keeps parsed (about 1 KiB each): "
        "a device beyond it still checks in, by the slower path.",
    )
    enrolment_token_max_ttl_s: int = Field(
        default=30 * 86400, ge=60, description="Longest lifetime an enrolment token may be given."
    )

    max_body_bytes: int = Field(
        default=1 << 20, ge=1024, description="Largest request body accepted (413 beyond)."
    )
    release_failure_threshold_pct: float = Field(
        default=5.0,
        ge=0,
        le=100,
        description="A release halts itself when more than this share of a stage's installs "
        "fail (each release may set its own).",
    )
    apk_max_bytes: int = Field(
        default=300 << 20,
        ge=1 << 20,
        le=512 << 20,  # the most the APK reader reads (mdm_server.apps.apk.MAX_APK_BYTES)
        description="Largest APK the catalogue accepts in one upload (413 beyond); at most "
        "512 MiB.",
    )
    apk_store: str = Field(
        default="file",
        description="Where uploaded APKs are kept: `file`, under DATA_DIR/apks, is the only "
        "store for now; an S3-compatible store would be named here.",
    )
    password_min_length: int = Field(default=12, ge=8, description="Shortest staff password.")
    argon2_time_cost: int = Field(default=3, ge=1, description="Argon2id passes (RFC 9106).")
    argon2_memory_kib: int = Field(default=64 * 1024, ge=8, description="Argon2id memory, KiB.")
    argon2_parallelism: int = Field(default=4, ge=1, description="Argon2id lanes.")

    db_pool_size: int = Field(default=10, ge=1, description="Database connections per worker.")
    sqlite_busy_timeout_ms: int = Field(
        default=10_000, ge=0, description="How long SQLite waits for another process's lock."
    )
    scheduler_enabled: bool = Field(
        default=True, description="Run the scheduled jobs (docs/operations.md)."
    )
    command_broker_url: str | None = Field(
        default=None,
        pattern=r"^nats://[^\s/]+$",
        description="A NATS server (`nats://host:port`, reachable by the server and by "
        "devices) to carry content-free command wake-ups, so devices need not hold a long poll "
        "each; unset (the default), devices hold long polls (docs/operations.md).",
    )
    compliance_sweep_minutes: int = Field(
        default=1,
        ge=1,
        le=1440,
        description="How often devices whose compliance may have changed without a check-in "
        "(a grace period ending, a policy change) are evaluated again, so enforcement ladders "
        "advance for devices that stay offline.",
    )
    audit_origin: str | None = Field(
        default=None,
        pattern=r"^[^\s+]+$",
        description="The audit log's name in its signed checkpoints (no spaces, no '+'). "
        "Default: the public URL's host and path, then /audit.",
    )
    audit_checkpoint_interval_s: int = Field(
        default=60,
        ge=1,
        le=86400,
        description="Sign a checkpoint of the audit log at least this often while events arrive.",
    )
    audit_checkpoint_events: int = Field(
        default=1000,
        ge=1,
        description="... or as soon as this many events are waiting for one.",
    )
    audit_retention_days: int | None = Field(
        default=None,
        ge=30,
        description="Delete audit events older than this many days, each deletion recorded "
        "and signed (docs/audit.md, Retention). Unset: keep every event.",
    )
    console_session_idle_s: int = Field(
        default=30 * 60,
        ge=60,
        le=12 * 3600,
        description="A console sign-in ends after this long without a request.",
    )
    console_session_max_s: int = Field(
        default=12 * 3600,
        ge=300,
        le=24 * 3600,
        description="A console sign-in ends this long after it began, however busy (a shift).",
    )
    map_dir: Path | None = Field(
        default=None,
        description="A directory of the force's own division maps, one GeoJSON file per "
        "division (DIVISION.geojson: a `boundary` polygon and named `street` lines, "
        "docs/map.md), served by Tabard. Unset: the synthetic demo divisions Tabard ships.",
    )
    map_url: str | None = Field(
        default=None,
        description="Instead of serving division maps, the base URL of the force's own "
        "self-hosted map server, on its own network: the console loads URL/DIVISION.geojson "
        "from there, and its Content Security Policy allows that origin and no other.",
    )
    missing_person_review_high_minutes: int = Field(
        default=60,
        ge=5,
        le=7 * 24 * 60,
        description="A high-risk missing person's case is reviewed at least this often.",
    )
    missing_person_review_medium_minutes: int = Field(
        default=4 * 60, ge=5, le=7 * 24 * 60, description="... a medium-risk case this often."
    )
    missing_person_review_low_minutes: int = Field(
        default=12 * 60, ge=5, le=7 * 24 * 60, description="... a low-risk case this often."
    )
    missing_person_review_no_apparent_risk_minutes: int = Field(
        default=24 * 60,
        ge=5,
        le=7 * 24 * 60,
        description="... and a case of no apparent risk this often.",
    )
    safeguarding_triage_hours: int = Field(
        default=24,
        ge=1,
        le=24 * 14,
        description="Hours the MASH team has to decide a safeguarding referral before the "
        "queue marks it overdue.",
    )
    demand_refresh_s: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="How often the supervisor's demand page fetches fresh figures, in seconds.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    access_log: bool = Field(default=True, description="One log line per request.")
    log_format: LogFormat = Field(
        default="text",
        description="text: lines for a person at a terminal. json: one JSON object per line "
        "(time, level, logger, message, request_id and the line's fields) for a log shipper.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        min_length=24,
        description="The bearer token Prometheus sends to scrape /metrics (at least 24 "
        "characters; docs/operations.md, Metrics). Unset: /metrics answers 404.",
    )
    siem_url: str | None = Field(
        default=None,
        description="Where the SIEM feed sends every audit event as it is committed: "
        "syslog+tls://HOST:PORT (RFC 5424 over TLS, RFC 5425), syslog+tcp://HOST:PORT (only "
        "on a trusted network), or an http(s) URL taking JSON lines (docs/operations.md, "
        "The SIEM feed). Unset: no feed.",
    )
    siem_ca_file: Path | None = Field(
        default=None,
        description="The CA certificate (PEM) the collector's TLS certificate must chain to. "
        "Unset: the system's trusted CAs.",
    )
    siem_http_token: SecretStr | None = Field(
        default=None, description="A bearer token sent to an http(s) collector, if it asks."
    )
    siem_interval_s: float = Field(
        default=5, ge=1, le=300, description="How often the feed sends what is new, in seconds."
    )
    siem_batch: int = Field(
        default=500, ge=1, le=10_000, description="Most events sent to the collector at once."
    )
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry traces, metrics and logs, exported as the "
        "standard OTEL_* environment variables configure. Off by default: it costs CPU on "
        "every request and nothing leaves the server unless you ask.",
    )

    @field_validator("access_token_ttl_s")
    @classmethod
    def _access_tokens_are_short_lived(cls, value: int) -> int:
        if value > MAX_ACCESS_TOKEN_TTL_S:
            raise ValueError(f"must be at most {MAX_ACCESS_TOKEN_TTL_S} seconds (15 minutes)")
        return value

    @field_validator("apk_store")
    @classmethod
    def _apk_store_is_known(cls, value: str) -> str:
        if value != "file":
            raise ValueError(
                f"'{value}' is not an APK store Tabard has: use 'file' (APKs under "
                "DATA_DIR/apks); an S3-compatible store is not available yet"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_absolute(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                "must be an absolute http(s) URL such as https://mdm.example.police.uk"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")

    @field_validator("map_url")
    @classmethod
    def _map_url_is_absolute(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                "must be an absolute http(s) URL such as https://maps.force.example/divisions"
            )
        if parts.query or parts.fragment or "'" in value or " " in value or ";" in value:
            raise ValueError("must be a plain base URL: no query, fragment, quote or space")
        return value.rstrip("/")

    @field_validator("siem_url")
    @classmethod
    def _siem_url_names_a_collector(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in SIEM_SCHEMES or not parts.hostname:
            raise ValueError(
                "must be syslog+tls://HOST:PORT, syslog+tcp://HOST:PORT or an http(s) URL, "
                "e.g. syslog+tls://siem.force.example:6514"
            )
        if parts.scheme.startswith("syslog") and (parts.port is None or parts.path.strip("/")):
            raise ValueError("a syslog collector is HOST:PORT, e.g. syslog+tls://siem:6514")
        if parts.password or parts.username:
            raise ValueError("must not carry credentials: set siem_http_token instead")
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer_is_https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        if not parts.netloc or not (parts.scheme == "https" or loopback):
            raise ValueError(
                "must be the provider's https URL, e.g. "
                "https://login.microsoftonline.com/TENANT/v2.0 (http only on this machine)"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")

    @field_validator("oidc_scopes")
    @classmethod
    def _scopes_include_openid(cls, value: str) -> str:
        scopes = value.split()
        if "openid" not in scopes:
            raise ValueError("must include openid, e.g. 'openid profile email'")
        return " ".join(scopes)

    @field_validator("oidc_role_map")
    @classmethod
    def _roles_are_staff_roles(cls, value: dict[str, str]) -> dict[str, str]:
        for group, role in value.items():
            if role not in OIDC_ROLES:
                raise ValueError(
                    f"group '{group}' maps to '{role}', which is not a role: use one of "
                    + ", ".join(OIDC_ROLES)
                )
        return value

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.oidc_issuer is None:
            return self
        if not self.oidc_client_id:
            raise ValueError("oidc_issuer is set: set oidc_client_id too")
        if (self.oidc_client_secret is None) == (self.oidc_private_key_file is None):
            raise ValueError(
                "oidc_issuer is set: set one of oidc_client_secret or oidc_private_key_file"
            )
        if not self.oidc_role_map:
            raise ValueError(
                "oidc_issuer is set: set oidc_role_map, e.g. "
                '{"tabard-it": "it_admin"}, or nobody could be given a role'
            )
        return self

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_issuer is not None

    @model_validator(mode="after")
    def _one_map_source(self) -> Settings:
        if self.map_dir is not None and self.map_url is not None:
            raise ValueError(
                "set map_dir (maps Tabard serves) or map_url (the force's map server), not both"
            )
        return self

    @property
    def map_origin(self) -> str | None:
        """The origin of the force's map server, where one is named: all the console's
        Content Security Policy allows beyond this server."""
        if self.map_url is None:
            return None
        parts = urlsplit(self.map_url)
        return f"{parts.scheme}://{parts.netloc}"

    @model_validator(mode="after")
    def _data_dir_is_absolute(self) -> Settings:
        object.__setattr__(self, "data_dir", self.data_dir.expanduser().resolve())
        return self

    @model_validator(mode="after")
    def _renewal_before_expiry(self) -> Settings:
        if self.device_certificate_renew_days >= self.device_certificate_days:
            raise ValueError(
                "device_certificate_renew_days must be less than device_certificate_days, "
                "or every certificate would be renewed as soon as it is issued"
            )
        return self

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'tabard.db'}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def device_audience(self) -> str:
        """The `aud` every device assertion must carry: the server's public URL."""
        return self.public_url

    @property
    def staff_token_issuer(self) -> str:
        return self.public_url

    @property
    def staff_token_audience(self) -> str:
        return f"{self.public_url}/api/v1"
