from __future__ import annotations

import re

import pytest

from asset_anchor.settings import (
    ConfigurationError,
    Environment,
    Settings,
    load_settings,
)

JWT_SECRET = "jwt-8f3c1e9a7b2d4f60a5c8e1b3d7f9a2c4-distinctive"
DATABASE_PASSWORD = "db-pw-5e7a9c1b3d"
REDIS_PASSWORD = "redis-pw-2b4d6f8a0c"
POSTMARK_TOKEN = "postmark-token-7c9e1a3b5d"
STRIPE_KEY = "sk_test_stripe-key-4a6c8e0b2d"
STRIPE_WEBHOOK = "whsec_stripe-webhook-9b1d3f5a7c"
MFA_KEY = "mfa-key-0f2e4d6c8b0a1f3e5d7c9b1a3f5e7d9c"

PRODUCTION_ENVIRONMENT = {
    "ENVIRONMENT": "production",
    "JWT_SECRET": JWT_SECRET,
    "DATABASE_URL": f"postgresql://app:{DATABASE_PASSWORD}@db.example.test/app",
    "REDIS_URL": f"rediss://:{REDIS_PASSWORD}@cache.example.test:6379/0",
    "POSTMARK_API_TOKEN": POSTMARK_TOKEN,
    "MFA_ENCRYPTION_KEY": MFA_KEY,
    "FRONTEND_URL": "https://app.example.test",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable of the real environment may reach the settings under test."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    """A complete production environment that ``load_settings`` accepts."""
    for name, value in PRODUCTION_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


def refusal_problems() -> list[str]:
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    return refused.value.problems


class TestReadingTheEnvironment:
    def test_upper_case_variables_fill_the_fields(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ENVIRONMENT", "test")
        monkeypatch.setenv("PORT", "8123")
        monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "2500")
        monkeypatch.setenv("REDIS_KEY_PREFIX", "tenant-a:")
        monkeypatch.setenv("JWT_SECRET", JWT_SECRET)

        settings = Settings()

        assert settings.environment == "test"
        assert settings.port == 8123
        assert settings.db_statement_timeout_ms == 2500
        assert settings.redis_key_prefix == "tenant-a:"
        assert settings.jwt_secret is not None
        assert settings.jwt_secret.get_secret_value() == JWT_SECRET

    def test_fields_keep_their_defaults_when_nothing_is_set(self) -> None:
        settings = Settings()

        assert settings.environment == "development"
        assert settings.port == 8000
        assert settings.database_url is None
        assert settings.redis_url is None
        assert settings.jwt_secret is None


class TestCorsOrigins:
    def test_comma_separated_variable_becomes_a_list(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CORS_ORIGINS", "a, b")

        settings = Settings()

        assert settings.cors_origins == ["a", "b"]

    def test_empty_variable_becomes_an_empty_list(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CORS_ORIGINS", "")

        settings = Settings()

        assert settings.cors_origins == []

    def test_unset_variable_is_an_empty_list(self) -> None:
        settings = Settings()

        assert settings.cors_origins == []


class TestProductionRefusal:
    @pytest.mark.usefixtures("production")
    def test_complete_production_environment_is_accepted(self) -> None:
        settings = load_settings()

        assert settings.is_production
        assert settings.production_problems() == []

    @pytest.mark.usefixtures("production")
    @pytest.mark.parametrize(
        "variable", ["JWT_SECRET", "DATABASE_URL", "REDIS_URL", "MFA_ENCRYPTION_KEY"]
    )
    def test_missing_required_variable_is_named(
        self, monkeypatch: pytest.MonkeyPatch, variable: str
    ) -> None:
        monkeypatch.delenv(variable)

        problems = refusal_problems()

        assert len(problems) == 1
        assert variable in problems[0]

    def test_every_missing_variable_is_named_at_once(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ENVIRONMENT", "production")

        problems = refusal_problems()

        named = " ".join(problems)
        for variable in ("JWT_SECRET", "DATABASE_URL", "REDIS_URL"):
            assert variable in named

    @pytest.mark.usefixtures("production")
    def test_postmark_token_is_required_with_the_default_email_backend(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("POSTMARK_API_TOKEN")

        problems = refusal_problems()

        assert len(problems) == 1
        assert "POSTMARK_API_TOKEN" in problems[0]

    @pytest.mark.usefixtures("production")
    def test_postmark_token_is_not_required_with_the_file_email_backend(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("POSTMARK_API_TOKEN")
        monkeypatch.setenv("EMAIL_BACKEND", "file")

        settings = load_settings()

        assert settings.resolved_email_backend == "file"

    @pytest.mark.usefixtures("production")
    def test_stripe_webhook_secret_is_not_required_without_stripe(self) -> None:
        settings = load_settings()

        assert not settings.payments_enabled
        assert settings.stripe_webhook_secret is None

    @pytest.mark.usefixtures("production")
    def test_stripe_webhook_secret_is_required_with_a_stripe_key(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("STRIPE_SECRET_KEY", STRIPE_KEY)

        problems = refusal_problems()

        assert len(problems) == 1
        assert "STRIPE_WEBHOOK_SECRET" in problems[0]

    @pytest.mark.usefixtures("production")
    def test_blank_variables_count_as_unset(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("STRIPE_SECRET_KEY", "")
        monkeypatch.setenv("EMAIL_BACKEND", "")
        monkeypatch.setenv("LOG_FORMAT", "")

        settings = load_settings()

        assert not settings.payments_enabled
        assert settings.resolved_email_backend == "postmark"
        assert settings.resolved_log_format == "json"

    @pytest.mark.usefixtures("production")
    def test_stripe_key_with_its_webhook_secret_is_accepted(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("STRIPE_SECRET_KEY", STRIPE_KEY)
        monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK)

        settings = load_settings()

        assert settings.payments_enabled

    @pytest.mark.usefixtures("production")
    @pytest.mark.parametrize(
        "placeholder", ["changeme", "change-me", "<secret>", "secret"]
    )
    def test_placeholder_jwt_secret_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, placeholder: str
    ) -> None:
        monkeypatch.setenv("JWT_SECRET", placeholder)

        problems = refusal_problems()

        assert len(problems) == 1
        assert "JWT_SECRET" in problems[0]
        assert "placeholder" in problems[0]

    @pytest.mark.usefixtures("production")
    @pytest.mark.parametrize(
        "variable", ["DATABASE_URL", "REDIS_URL", "POSTMARK_API_TOKEN"]
    )
    def test_placeholder_in_another_secret_is_refused_by_name(
        self, monkeypatch: pytest.MonkeyPatch, variable: str
    ) -> None:
        monkeypatch.setenv(variable, "changeme")

        problems = refusal_problems()

        assert len(problems) == 1
        assert variable in problems[0]
        assert "placeholder" in problems[0]

    @pytest.mark.usefixtures("production")
    def test_short_jwt_secret_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("JWT_SECRET", "k" * 31)

        problems = refusal_problems()

        assert len(problems) == 1
        assert "JWT_SECRET" in problems[0]
        assert "32" in problems[0]

    @pytest.mark.usefixtures("production")
    def test_jwt_secret_of_exactly_32_characters_is_accepted(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("JWT_SECRET", "k" * 32)

        settings = load_settings()

        assert settings.jwt_secret_value() == "k" * 32

    @pytest.mark.usefixtures("production")
    def test_plain_http_frontend_url_is_refused(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("FRONTEND_URL", "http://app.example.test")

        problems = refusal_problems()

        assert len(problems) == 1
        assert "FRONTEND_URL" in problems[0]
        assert "https" in problems[0]

    def test_development_needs_none_of_the_production_variables(self) -> None:
        settings = load_settings()

        assert settings.environment == "development"
        assert settings.production_problems() == []


class TestSecretsStayHidden:
    @pytest.mark.parametrize(
        "secret",
        [
            JWT_SECRET,
            DATABASE_PASSWORD,
            REDIS_PASSWORD,
            POSTMARK_TOKEN,
            STRIPE_KEY,
            STRIPE_WEBHOOK,
        ],
    )
    @pytest.mark.usefixtures("production")
    def test_secret_is_absent_from_repr_and_str(
        self, monkeypatch: pytest.MonkeyPatch, secret: str
    ) -> None:
        monkeypatch.setenv("STRIPE_SECRET_KEY", STRIPE_KEY)
        monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK)
        settings = load_settings()

        shown = (repr(settings), str(settings))

        assert secret not in shown[0]
        assert secret not in shown[1]


class TestResolvedDefaults:
    @pytest.mark.parametrize(
        ("environment", "backend"),
        [("development", "file"), ("test", "file"), ("production", "postmark")],
    )
    def test_email_backend_follows_the_environment(
        self, environment: Environment, backend: str
    ) -> None:
        settings = Settings(environment=environment)

        assert settings.resolved_email_backend == backend

    def test_explicit_email_backend_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("EMAIL_BACKEND", "postmark")

        settings = Settings()

        assert settings.resolved_email_backend == "postmark"

    @pytest.mark.parametrize(
        ("environment", "log_format"),
        [("development", "console"), ("test", "console"), ("production", "json")],
    )
    def test_log_format_follows_the_environment(
        self, environment: Environment, log_format: str
    ) -> None:
        settings = Settings(environment=environment)

        assert settings.resolved_log_format == log_format

    def test_explicit_log_format_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ENVIRONMENT", "production")
        monkeypatch.setenv("LOG_FORMAT", "console")

        settings = Settings()

        assert settings.resolved_log_format == "console"


class TestJwtSecretValue:
    def test_configured_secret_is_returned(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("JWT_SECRET", JWT_SECRET)

        value = Settings().jwt_secret_value()

        assert value == JWT_SECRET

    def test_missing_secret_outside_production_is_made_up_once(self) -> None:
        settings = Settings()

        first = settings.jwt_secret_value()
        second = settings.jwt_secret_value()

        assert re.fullmatch(r"[0-9a-f]{64}", first)
        assert second == first

    def test_made_up_secret_differs_between_settings_objects(self) -> None:
        one, other = Settings(), Settings()

        first, second = one.jwt_secret_value(), other.jwt_secret_value()

        assert first != second

    def test_missing_secret_in_production_raises(self) -> None:
        settings = Settings(environment="production")

        with pytest.raises(ConfigurationError) as refused:
            settings.jwt_secret_value()

        assert any("JWT_SECRET" in problem for problem in refused.value.problems)
        assert settings.jwt_secret is None


class TestSigningAndEncryptionKeys:
    def test_previous_jwt_secrets_follow_the_current_one(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        old = "o" * 40
        older = "p" * 40
        monkeypatch.setenv("JWT_SECRET", JWT_SECRET)
        monkeypatch.setenv("JWT_PREVIOUS_SECRETS", f"{old}, {older},")

        settings = Settings()

        assert settings.jwt_verification_secrets() == [JWT_SECRET, old, older]
        assert old not in repr(settings)

    @pytest.mark.usefixtures("production")
    def test_a_short_previous_secret_is_refused_in_production(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("JWT_PREVIOUS_SECRETS", f"{'o' * 40},short")

        problems = refusal_problems()

        assert problems == [
            "JWT_PREVIOUS_SECRETS item 2 is not a real secret of at least 32 characters"
        ]

    @pytest.mark.usefixtures("production")
    def test_the_mfa_key_must_differ_from_the_jwt_secret(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MFA_ENCRYPTION_KEY", JWT_SECRET)

        assert refusal_problems() == ["MFA_ENCRYPTION_KEY must differ from JWT_SECRET"]

    def test_outside_production_the_mfa_key_derives_from_the_jwt_secret(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("JWT_SECRET", JWT_SECRET)

        current, previous = Settings().mfa_keys()

        assert JWT_SECRET in current
        assert current != JWT_SECRET
        assert previous == []
