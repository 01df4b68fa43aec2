from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from jinja2 import UndefinedError

from asset_anchor.email.templates import (
    RenderedEmail,
    UnknownEmailKind,
    build_link,
    render_email,
)
from asset_anchor.settings import Settings

SENT_AT = datetime(2025, 3, 1, 7, 30, tzinfo=UTC)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        environment="test",
        frontend_url="https://app.example.test/",
        email_from="help@assetanchor.example.test",
    )


def render_test_email(
    settings: Settings,
    *,
    recipient_name: str | None = "Jordan",
    context: dict[str, Any] | None = None,
) -> RenderedEmail:
    return render_email(
        "test",
        settings=settings,
        recipient_name=recipient_name,
        context={"sent_at": SENT_AT} if context is None else context,
    )


class TestRenderTestEmail:
    def test_subject_comes_from_the_template(self, settings: Settings) -> None:
        rendered = render_test_email(settings)

        assert rendered.subject == "Test email from Asset Anchor"
        assert "<title>Test email from Asset Anchor</title>" in rendered.html_body

    def test_both_bodies_say_delivery_works_and_when(self, settings: Settings) -> None:
        rendered = render_test_email(settings)

        for body in (rendered.text_body, rendered.html_body):
            assert "This is a test email from Asset Anchor" in body
            assert "email delivery works" in body
            assert "1 March 2025, 07:30 UTC" in body

    def test_sent_at_in_another_offset_is_shown_in_utc(
        self, settings: Settings
    ) -> None:
        paris = SENT_AT.astimezone(timezone(timedelta(hours=1)))

        rendered = render_test_email(settings, context={"sent_at": paris})

        assert "1 March 2025, 07:30 UTC" in rendered.text_body

    def test_greets_the_recipient_by_name(self, settings: Settings) -> None:
        rendered = render_test_email(settings, recipient_name="Jordan")

        assert "Hi Jordan," in rendered.text_body
        assert "Hi Jordan," in rendered.html_body

    @pytest.mark.parametrize("name", [None, "", "   "])
    def test_greets_there_without_a_name(
        self, settings: Settings, name: str | None
    ) -> None:
        rendered = render_test_email(settings, recipient_name=name)

        assert "Hi there," in rendered.text_body
        assert "Hi there," in rendered.html_body

    def test_footer_says_why_and_names_the_support_address(
        self, settings: Settings
    ) -> None:
        rendered = render_test_email(settings)

        for body in (rendered.text_body, rendered.html_body):
            assert "You are receiving this because" in body
            assert "help@assetanchor.example.test" in body
        assert 'href="mailto:help@assetanchor.example.test"' in rendered.html_body

    def test_html_declares_its_language(self, settings: Settings) -> None:
        rendered = render_test_email(settings)

        assert '<html lang="en">' in rendered.html_body


class TestAutoescaping:
    def test_name_is_escaped_in_html_and_verbatim_in_text(
        self, settings: Settings
    ) -> None:
        name = "<script>alert(1)</script>"

        rendered = render_test_email(settings, recipient_name=name)

        assert "<script>" not in rendered.html_body
        assert "Hi &lt;script&gt;alert(1)&lt;/script&gt;," in rendered.html_body
        assert f"Hi {name}," in rendered.text_body


class TestLinks:
    def test_bodies_link_to_the_frontend_url(self, settings: Settings) -> None:
        rendered = render_test_email(settings)

        assert "https://app.example.test/" in rendered.text_body
        assert 'href="https://app.example.test/"' in rendered.html_body

    def test_query_is_url_encoded(self) -> None:
        link = build_link(
            "https://app.example.test", "/verify-email", token="a b&c", step=2
        )

        assert link == "https://app.example.test/verify-email?token=a+b%26c&step=2"

    def test_path_without_leading_slash_is_refused(self) -> None:
        with pytest.raises(ValueError, match="must start with"):
            build_link("https://app.example.test", "verify-email")


class TestRenderErrors:
    @pytest.mark.parametrize("kind", ["no-such-kind", "base", "../test", "Test"])
    def test_unknown_kind_raises(self, settings: Settings, kind: str) -> None:
        with pytest.raises(UnknownEmailKind):
            render_email(kind, settings=settings, recipient_name=None, context={})

    def test_missing_context_variable_raises(self, settings: Settings) -> None:
        with pytest.raises(UndefinedError, match="sent_at"):
            render_test_email(settings, context={})

    def test_context_may_not_override_shared_names(self, settings: Settings) -> None:
        with pytest.raises(ValueError, match="recipient_name"):
            render_test_email(
                settings, context={"sent_at": SENT_AT, "recipient_name": "Eve"}
            )
