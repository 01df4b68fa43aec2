"""Runtime configuration, read once from the environment.

Every knob the service has is a field here, named as the operator sets it.
Secrets are ``SecretStr`` so that they never appear in a repr or a log line.
In production a missing or placeholder secret stops the process at start with a
message naming the variable (see ``Settings.production_problems``).
"""

from __future__ import annotations

import ipaddress
import secrets
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Environment = Literal["development", "test", "production"]
EmailBackend = Literal["postmark", "file"]
LogFormat = Literal["json", "console"]

# Values that people paste into a config while setting things up. None of them
# is a secret; a production process that sees one refuses to start.
_PLACEHOLDERS = frozenset(
    {
        "",
        "change-me",
        "changeme",
        "change_me",
        "replace-me",
        "secret",
        "your-secret",
        "your-secret-key",
        "placeholder",
        "example",
        "dev",
        "development",
        "test",
        "password",
        "xxx",
        "todo",
        "none",
        "null",
    }
)
_MIN_JWT_SECRET_LENGTH = 32


def _is_placeholder(value: str | None) -> bool:
    if value is None:
        return True
    folded = value.strip().lower()
    return folded in _PLACEHOLDERS or folded.startswith(("<", "${", "change"))


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _secret_list(value: SecretStr | None) -> list[str]:
    """The items of a comma-separated secret variable."""
    if value is None:
        return []
    return [
        item.strip() for item in value.get_secret_value().split(",") if item.strip()
    ]


CommaList = Annotated[list[str], NoDecode]
"""A variable holding a comma-separated list (``a,b``)."""


class ConfigurationError(Exception):
    """The environment does not describe a service that can run safely."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class Settings(BaseSettings):
    """All configuration of the API, the worker and the command line."""

    model_config = SettingsConfigDict(
        env_file=None,
        # A variable set to "" is treated as unset (a blank dashboard field
        # must not turn a feature on, nor fail a type check).
        env_ignore_empty=True,
        case_sensitive=False,
        extra="ignore",
        hide_input_in_errors=True,
    )

    environment: Environment = "development"
    port: int = Field(default=8000, ge=1, le=65535)
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Peers whose X-Forwarded-* headers are believed.",
    )
    forwarded_hops: int = Field(
        default=1,
        ge=1,
        le=10,
        description="How many proxies in front of the service append to"
        " X-Forwarded-For: the client is that many entries from the right.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: LogFormat | None = None

    database_url: SecretStr | None = None
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    db_statement_timeout_ms: int = Field(default=10_000, ge=100, le=600_000)
    db_migration_lock_timeout_ms: int = Field(default=10_000, ge=100, le=600_000)

    redis_url: SecretStr | None = None
    redis_key_prefix: str = Field(default="asset-anchor:", min_length=1, max_length=64)
    redis_timeout_seconds: float = Field(default=2.0, gt=0, le=30)

    health_probe_timeout_seconds: float = Field(default=2.0, gt=0, le=10)
    health_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    jwt_secret: SecretStr | None = None
    jwt_previous_secrets: SecretStr | None = None
    jwt_issuer: str = Field(default="asset-anchor", min_length=1)
    jwt_audience: str = Field(default="asset-anchor-api", min_length=1)
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=900)
    session_ttl_days: int = Field(default=30, ge=1, le=365)
    email_verification_ttl_hours: int = Field(default=48, ge=1, le=24 * 14)
    password_reset_ttl_minutes: int = Field(default=60, ge=5, le=24 * 60)
    set_password_ttl_hours: int = Field(default=72, ge=1, le=24 * 14)
    invitation_ttl_days: int = Field(default=7, ge=1, le=30)
    mfa_encryption_key: SecretStr | None = None
    mfa_encryption_previous_keys: SecretStr | None = None

    cors_origins: CommaList = Field(default_factory=list)
    frontend_url: str = "http://localhost:5173"
    max_request_body_bytes: int = Field(default=1_048_576, ge=1024)

    email_backend: EmailBackend | None = None
    email_from: str = "support@assetanchor.io"
    email_from_name: str = "Asset Anchor"
    email_file_dir: str = ".data/mail"
    postmark_api_token: SecretStr | None = None
    postmark_api_url: str = "https://api.postmarkapp.com"
    postmark_message_stream: str = "outbound"
    postmark_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    postmark_webhook_username: str | None = None
    postmark_webhook_password: SecretStr | None = None

    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_connect_webhook_secret: SecretStr | None = None
    stripe_api_url: str = "https://api.stripe.com"
    stripe_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    stripe_connect_country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    stripe_refund_application_fee: bool = True
    stripe_reconcile_interval_minutes: int = Field(default=15, ge=5, le=60)

    sentry_dsn: SecretStr | None = None
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)

    worker_max_jobs: int = Field(default=10, ge=1, le=500)
    worker_poll_delay_seconds: float = Field(default=0.1, ge=0.01, le=5)
    worker_job_timeout_seconds: int = Field(default=60, ge=1, le=3600)
    worker_shutdown_grace_seconds: int = Field(default=25, ge=0, le=600)
    worker_health_check_interval_seconds: int = Field(default=60, ge=5, le=3600)
    worker_restart_max_delay_seconds: float = Field(default=30.0, gt=0, le=600)
    idempotency_key_retention_hours: int = Field(default=24, ge=1, le=24 * 30)

    outbox_handover_timeout_seconds: float = Field(default=0.5, gt=0, le=10)
    outbox_sweep_interval_seconds: int = Field(default=15, ge=5, le=60)
    outbox_retention_days: int = Field(default=7, ge=1, le=365)
    job_max_tries: int = Field(default=12, ge=1, le=50)
    job_retry_base_seconds: float = Field(default=2.0, gt=0, le=600)
    job_retry_max_seconds: float = Field(default=3600.0, gt=0, le=86_400)

    _ephemeral_jwt_secret: str = PrivateAttr(
        default_factory=lambda: secrets.token_hex(32)
    )

    _split_cors = field_validator("cors_origins", mode="before")(_split_list)

    @field_validator("outbox_sweep_interval_seconds")
    @classmethod
    def _divides_a_minute(cls, value: int) -> int:
        if 60 % value:
            raise ValueError("must divide 60 (5, 6, 10, 12, 15, 20, 30 or 60)")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            if item and item != "*":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError as error:
                    message = f"{item!r} is not an IP address or CIDR"
                    raise ValueError(message) from error
        return value

    @field_validator("frontend_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def resolved_email_backend(self) -> EmailBackend:
        """Postmark in production, ``.eml`` files elsewhere, unless set."""
        if self.email_backend is not None:
            return self.email_backend
        return "postmark" if self.is_production else "file"

    @property
    def resolved_log_format(self) -> LogFormat:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.is_production else "console"

    @property
    def payments_enabled(self) -> bool:
        return self.stripe_secret_key is not None

    @property
    def arq_queue_name(self) -> str:
        return f"{self.redis_key_prefix}queue"

    def stripe_webhook_secrets(self) -> list[str]:
        """The secrets a webhook may be signed with: the platform endpoint's
        and the Connect endpoint's."""
        return [
            secret.get_secret_value()
            for secret in (
                self.stripe_webhook_secret,
                self.stripe_connect_webhook_secret,
            )
            if secret is not None
        ]

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigurationError(["DATABASE_URL is not set"])
        return self.database_url.get_secret_value()

    def require_redis_url(self) -> str:
        if self.redis_url is None:
            raise ConfigurationError(["REDIS_URL is not set"])
        return self.redis_url.get_secret_value()

    def jwt_secret_value(self) -> str:
        """The signing secret; outside production a missing one is made up.

        A made-up secret lives as long as the process, so tokens do not survive
        a restart of a development server; ``asset-anchor dev`` keeps one under
        ``.data/`` for that reason.
        """
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        if self.is_production:
            raise ConfigurationError(["JWT_SECRET is not set"])
        return self._ephemeral_jwt_secret

    def jwt_verification_secrets(self) -> list[str]:
        """The signing secret first, then the previous ones still accepted."""
        return [self.jwt_secret_value(), *_secret_list(self.jwt_previous_secrets)]

    def mfa_keys(self) -> tuple[str, list[str]]:
        """The key that encrypts TOTP secrets, and older keys that still open.

        Outside production a missing key is derived from the JWT secret, so a
        development database stays readable across restarts of ``dev``.
        """
        previous = _secret_list(self.mfa_encryption_previous_keys)
        if self.mfa_encryption_key is not None:
            return self.mfa_encryption_key.get_secret_value(), previous
        if self.is_production:
            raise ConfigurationError(["MFA_ENCRYPTION_KEY is not set"])
        return f"derived-from-jwt-secret:{self.jwt_secret_value()}", previous

    def production_problems(self) -> list[str]:
        """Every reason this configuration must not serve production traffic."""
        if not self.is_production:
            return []
        problems: list[str] = []

        def secret(name: str, value: SecretStr | None) -> str | None:
            raw = None if value is None else value.get_secret_value()
            if raw is None or not raw.strip():
                problems.append(f"{name} is required in production but is not set")
                return None
            if _is_placeholder(raw):
                problems.append(f"{name} holds a placeholder value, not a secret")
                return None
            return raw

        jwt = secret("JWT_SECRET", self.jwt_secret)
        if jwt is not None and len(jwt) < _MIN_JWT_SECRET_LENGTH:
            problems.append(
                f"JWT_SECRET must be at least {_MIN_JWT_SECRET_LENGTH} characters"
                " (generate one with: openssl rand -hex 32)"
            )
        for number, old in enumerate(_secret_list(self.jwt_previous_secrets), 1):
            if len(old) < _MIN_JWT_SECRET_LENGTH or _is_placeholder(old):
                problems.append(
                    f"JWT_PREVIOUS_SECRETS item {number} is not a real secret of at"
                    f" least {_MIN_JWT_SECRET_LENGTH} characters"
                )
        mfa = secret("MFA_ENCRYPTION_KEY", self.mfa_encryption_key)
        if mfa is not None and len(mfa) < _MIN_JWT_SECRET_LENGTH:
            problems.append(
                f"MFA_ENCRYPTION_KEY must be at least {_MIN_JWT_SECRET_LENGTH}"
                " characters (generate one with: openssl rand -hex 32)"
            )
        if mfa is not None and jwt is not None and mfa == jwt:
            problems.append("MFA_ENCRYPTION_KEY must differ from JWT_SECRET")
        secret("DATABASE_URL", self.database_url)
        secret("REDIS_URL", self.redis_url)
        if self.resolved_email_backend == "postmark":
            secret("POSTMARK_API_TOKEN", self.postmark_api_token)
        if self.stripe_secret_key is not None:
            secret("STRIPE_SECRET_KEY", self.stripe_secret_key)
            secret("STRIPE_WEBHOOK_SECRET", self.stripe_webhook_secret)
        if not self.frontend_url.startswith("https://"):
            problems.append("FRONTEND_URL must be an https:// address in production")
        return problems


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and refuse an unsafe production set."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    problems = settings.production_problems()
    if problems:
        raise ConfigurationError(problems)
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return load_settings()
