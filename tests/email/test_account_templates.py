"""The accounts emails: sign-up, password, email-address and security notices."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from jinja2 import UndefinedError
from markupsafe import escape

from asset_anchor.email.templates import RenderedEmail, known_kind, render_email
from asset_anchor.settings import Settings

FRONTEND_URL = "https://app.example.test"
SUPPORT_EMAIL = "help@assetanchor.example.test"
RECIPIENT = "Jordan Riley"
TOKEN = "abc123"
CHANGED_AT = datetime(2025, 3, 1, 7, 30, tzinfo=UTC)
CHANGED_AT_FOR_PEOPLE = "1 March 2025, 07:30 UTC"
CHANGED_AT_ISO = "2025-03-01T07:30:00+00:00"
DEFAULT_REASON = "you have an account with Asset Anchor"

# Every accounts kind, with the full context its caller gives it.
CONTEXTS: dict[str, dict[str, Any]] = {
    "verify_email": {"token": TOKEN, "expires_hours": 24},
    "account_exists": {},
    "password_reset": {"token": TOKEN, "expires_minutes": 30},
    "password_changed": {"changed_at": CHANGED_AT},
    "email_change_verify": {"token": TOKEN, "expires_hours": 48},
    "email_changed": {"new_email": "jordan.new@example.test", "changed_at": CHANGED_AT},
    "set_password": {"token": TOKEN, "expires_hours": 72},
    "mfa_changed": {"enabled": True, "changed_at": CHANGED_AT},
    "account_locked": {"locked_minutes": 15},
}
KINDS = list(CONTEXTS)

# The front-end route each token-bearing kind links to.
TOKEN_ROUTES = {
    "verify_email": "/verify-email",
    "password_reset": "/reset-password",
    "email_change_verify": "/verify-email",
    "set_password": "/reset-password",
}
LOGIN_LINK_KINDS = [
    "account_exists",
    "password_changed",
    "mfa_changed",
    "account_locked",
]
DATED_KINDS = [kind for kind, context in CONTEXTS.items() if "changed_at" in context]
REQUIRED_VARIABLES = [
    (kind, name) for kind, context in CONTEXTS.items() for name in context
]


@pytest.fixture
def settings() -> Settings:
    return Settings(
        environment="test",
        frontend_url=FRONTEND_URL,
        email_from=SUPPORT_EMAIL,
    )


def render(
    kind: str,
    settings: Settings,
    *,
    recipient_name: str | None = RECIPIENT,
    **overrides: Any,
) -> RenderedEmail:
    return render_email(
        kind,
        settings=settings,
        recipient_name=recipient_name,
        context={**CONTEXTS[kind], **overrides},
    )


def visible_text(html_body: str) -> str:
    """What a reader sees of an HTML body: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_body))


def bodies(rendered: RenderedEmail) -> tuple[str, str]:
    """The text body and what a reader sees of the HTML body."""
    return rendered.text_body, visible_text(rendered.html_body)


class TestEveryKind:
    @pytest.mark.parametrize("kind", KINDS)
    def test_both_templates_exist(self, kind: str) -> None:
        assert known_kind(kind)

    @pytest.mark.parametrize("kind", KINDS)
    def test_subject_is_one_non_empty_line(self, settings: Settings, kind: str) -> None:
        rendered = render(kind, settings)

        assert rendered.subject
        assert rendered.subject == rendered.subject.strip()
        assert "\n" not in rendered.subject
        assert "{" not in rendered.subject
        assert f"<title>{escape(rendered.subject)}</title>" in rendered.html_body

    @pytest.mark.parametrize("kind", KINDS)
    def test_greets_the_recipient_by_name(self, settings: Settings, kind: str) -> None:
        rendered = render(kind, settings)

        assert f"Hi {RECIPIENT}," in rendered.text_body
        assert f"Hi {RECIPIENT}," in rendered.html_body

    @pytest.mark.parametrize("kind", KINDS)
    def test_says_why_it_was_sent_in_both_bodies(
        self, settings: Settings, kind: str
    ) -> None:
        rendered = render(kind, settings)
        text, seen = bodies(rendered)

        match = re.search(r"You are receiving this because (.+)\.\n", text)
        assert match is not None
        reason = match.group(1)
        assert reason
        assert reason != DEFAULT_REASON
        assert f"You are receiving this because {reason}." in seen

    @pytest.mark.parametrize("kind", KINDS)
    def test_body_points_to_support_as_well_as_the_footer(
        self, settings: Settings, kind: str
    ) -> None:
        rendered = render(kind, settings)

        # The footer names support once; the body must do so too.
        assert rendered.text_body.count(SUPPORT_EMAIL) >= 2
        assert rendered.html_body.count(f'href="mailto:{SUPPORT_EMAIL}"') >= 2

    @pytest.mark.parametrize("kind", KINDS)
    def test_text_body_has_no_markup(self, settings: Settings, kind: str) -> None:
        rendered = render(kind, settings)

        assert re.search(r"</?[a-z][^>]*>", rendered.text_body) is None

    @pytest.mark.parametrize("kind", KINDS)
    def test_hostile_recipient_name_is_escaped_in_html(
        self, settings: Settings, kind: str
    ) -> None:
        rendered = render(kind, settings, recipient_name="<b>Eve</b>")

        assert "<b>Eve</b>" not in rendered.html_body
        assert "Hi &lt;b&gt;Eve&lt;/b&gt;," in rendered.html_body
        assert "Hi <b>Eve</b>," in rendered.text_body

    @pytest.mark.parametrize("kind", KINDS)
    def test_renders_the_same_from_a_json_round_tripped_context(
        self, settings: Settings, kind: str
    ) -> None:
        # A queued email's context comes back from JSON: datetimes as ISO text.
        queued = json.loads(
            json.dumps(CONTEXTS[kind], default=lambda value: value.isoformat())
        )

        from_queue = render_email(
            kind, settings=settings, recipient_name=RECIPIENT, context=queued
        )

        assert from_queue == render(kind, settings)


class TestLinks:
    @pytest.mark.parametrize(("kind", "route"), TOKEN_ROUTES.items())
    def test_token_link_is_absolute_in_both_bodies(
        self, settings: Settings, kind: str, route: str
    ) -> None:
        url = f"{FRONTEND_URL}{route}?token={TOKEN}"

        rendered = render(kind, settings)

        assert f"\n{url}\n" in rendered.text_body
        assert f'href="{url}"' in rendered.html_body

    @pytest.mark.parametrize(("kind", "route"), TOKEN_ROUTES.items())
    def test_token_is_url_encoded(
        self, settings: Settings, kind: str, route: str
    ) -> None:
        url = f"{FRONTEND_URL}{route}?token=a+b%26c%2F%22"

        rendered = render(kind, settings, token='a b&c/"')

        assert f"\n{url}\n" in rendered.text_body
        assert f'href="{url}"' in rendered.html_body
        assert 'a b&c/"' not in rendered.text_body

    @pytest.mark.parametrize("kind", LOGIN_LINK_KINDS)
    def test_links_to_the_sign_in_page(self, settings: Settings, kind: str) -> None:
        url = f"{FRONTEND_URL}/login"

        rendered = render(kind, settings)

        assert f"\n{url}\n" in rendered.text_body
        assert f'href="{url}"' in rendered.html_body


class TestWhatEachEmailSays:
    @pytest.mark.parametrize(
        ("kind", "phrase"),
        [
            ("verify_email", "The link expires in 24 hours."),
            ("password_reset", "The link expires in 30 minutes."),
            ("email_change_verify", "The link expires in 48 hours."),
            ("set_password", "The link expires in 72 hours."),
            ("account_locked", "paused sign-in for 15 minutes"),
        ],
    )
    def test_says_how_long(self, settings: Settings, kind: str, phrase: str) -> None:
        for body in bodies(render(kind, settings)):
            assert phrase in body

    @pytest.mark.parametrize(
        ("kind", "variable", "phrase"),
        [
            ("verify_email", "expires_hours", "expires in 1 hour."),
            ("email_change_verify", "expires_hours", "expires in 1 hour."),
            ("set_password", "expires_hours", "expires in 1 hour."),
            ("password_reset", "expires_minutes", "expires in 1 minute."),
            ("account_locked", "locked_minutes", "for 1 minute."),
        ],
    )
    def test_one_unit_is_singular(
        self, settings: Settings, kind: str, variable: str, phrase: str
    ) -> None:
        one: dict[str, Any] = {variable: 1}

        for body in bodies(render(kind, settings, **one)):
            assert phrase in body

    @pytest.mark.parametrize(
        ("kind", "phrase"),
        [
            ("account_exists", "nothing was created or changed"),
            ("account_exists", "you can ignore this email"),
            ("password_reset", "your password stays the same"),
            ("password_changed", "signed you out everywhere else"),
            ("email_change_verify", "The change takes effect only once you confirm"),
            ("email_changed", "contact us immediately"),
            ("set_password", "An administrator created an Asset Anchor account"),
            ("account_locked", "several failed attempts to sign in"),
        ],
    )
    def test_key_message(self, settings: Settings, kind: str, phrase: str) -> None:
        for body in bodies(render(kind, settings)):
            assert phrase in body

    @pytest.mark.parametrize("kind", DATED_KINDS)
    def test_says_when_in_utc(self, settings: Settings, kind: str) -> None:
        rendered = render(kind, settings)

        for body in bodies(rendered):
            assert CHANGED_AT_FOR_PEOPLE in body
        assert f'<time datetime="{CHANGED_AT_ISO}">' in rendered.html_body

    def test_email_changed_names_the_new_address(self, settings: Settings) -> None:
        for body in bodies(render("email_changed", settings)):
            assert "changed to jordan.new@example.test" in body


class TestMfaChanged:
    @pytest.mark.parametrize(
        ("enabled", "state", "other"), [(True, "on", "off"), (False, "off", "on")]
    )
    def test_says_whether_it_was_turned_on_or_off(
        self, settings: Settings, enabled: bool, state: str, other: str
    ) -> None:
        rendered = render("mfa_changed", settings, enabled=enabled)

        assert f"turned {state}" in rendered.subject
        assert f"turned {other}" not in rendered.subject
        for body in bodies(rendered):
            assert f"Two-step verification was turned {state}" in body
            assert f"turned {other}" not in body

    def test_on_and_off_read_differently(self, settings: Settings) -> None:
        on = render("mfa_changed", settings, enabled=True)
        off = render("mfa_changed", settings, enabled=False)

        assert on.subject != off.subject
        assert on.text_body != off.text_body
        assert on.html_body != off.html_body
        assert "verification code" in on.text_body
        assert "verification code" not in off.text_body
        assert "password alone" in off.text_body
        assert "password alone" not in on.text_body


class TestEscaping:
    def test_hostile_new_email_is_escaped_in_html_and_verbatim_in_text(
        self, settings: Settings
    ) -> None:
        hostile = "<script>x</script>@x.test"

        rendered = render("email_changed", settings, new_email=hostile)

        assert "<script>" not in rendered.html_body
        assert "&lt;script&gt;x&lt;/script&gt;@x.test" in rendered.html_body
        assert f"changed to {hostile}" in rendered.text_body


class TestMissingContext:
    @pytest.mark.parametrize(("kind", "name"), REQUIRED_VARIABLES)
    def test_each_missing_variable_raises(
        self, settings: Settings, kind: str, name: str
    ) -> None:
        context = {key: v for key, v in CONTEXTS[kind].items() if key != name}

        with pytest.raises(UndefinedError, match=name):
            render_email(
                kind, settings=settings, recipient_name=RECIPIENT, context=context
            )

    def test_account_exists_needs_no_context(self, settings: Settings) -> None:
        rendered = render_email(
            "account_exists", settings=settings, recipient_name=None, context={}
        )

        assert "Hi there," in rendered.text_body
