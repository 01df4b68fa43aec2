"""The portfolio emails: invitations, and changes to an organization's staff."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from asset_anchor.email.templates import RenderedEmail, known_kind, render_email
from asset_anchor.settings import Settings

FRONTEND_URL = "https://app.example.test"
RECIPIENT = "Casey Tenant"
TOKEN = "tok-123"

CONTEXTS: dict[str, dict[str, Any]] = {
    "tenant_invitation": {
        "token": TOKEN,
        "organization_name": "Riley Homes",
        "inviter_name": "Olive Owner",
        "unit_label": "Apt 4",
        "property_name": "Birch House",
        "expires_days": 7,
    },
    "manager_invitation": {
        "token": TOKEN,
        "organization_name": "Riley Homes",
        "inviter_name": "Olive Owner",
        "expires_days": 1,
    },
    "membership_ended": {
        "organization_name": "Riley Homes",
        "left": False,
        "remover_name": "Olive Owner",
    },
    "ownership_transferred": {
        "organization_name": "Riley Homes",
        "previous_owner_name": "Olive Owner",
    },
}
INVITATIONS = ["tenant_invitation", "manager_invitation"]


@pytest.fixture
def settings() -> Settings:
    return Settings(environment="test", frontend_url=FRONTEND_URL)


def render(kind: str, settings: Settings, **overrides: Any) -> RenderedEmail:
    return render_email(
        kind,
        settings=settings,
        recipient_name=RECIPIENT,
        context={**CONTEXTS[kind], **overrides},
    )


def visible(html_body: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", html_body))


class TestEveryKind:
    @pytest.mark.parametrize("kind", CONTEXTS)
    def test_both_templates_exist_and_greet_by_name(
        self, kind: str, settings: Settings
    ) -> None:
        rendered = render(kind, settings)

        assert known_kind(kind)
        assert f"Hi {RECIPIENT}," in rendered.text_body
        assert f"Hi {RECIPIENT}," in visible(rendered.html_body)
        assert "Riley Homes" in rendered.subject

    @pytest.mark.parametrize("kind", CONTEXTS)
    def test_names_are_escaped_in_html_only(
        self, kind: str, settings: Settings
    ) -> None:
        rendered = render(kind, settings, organization_name="<b>Evil & Co</b>")

        assert "<b>Evil" not in rendered.html_body
        assert "&lt;b&gt;Evil &amp; Co&lt;/b&gt;" in rendered.html_body
        assert "<b>Evil & Co</b>" in rendered.text_body


class TestInvitations:
    @pytest.mark.parametrize("kind", INVITATIONS)
    def test_the_link_is_the_front_ends_acceptance_page(
        self, kind: str, settings: Settings
    ) -> None:
        rendered = render(kind, settings)

        link = f"{FRONTEND_URL}/invitations/accept?token={TOKEN}"
        assert link in rendered.text_body
        assert f'href="{link}"' in rendered.html_body

    def test_a_tenant_is_told_which_lease(self, settings: Settings) -> None:
        rendered = render("tenant_invitation", settings)

        assert "Apt 4 at Birch House" in rendered.text_body
        assert "Olive Owner of Riley Homes" in rendered.text_body
        assert "expires in 7 days" in rendered.text_body

    def test_one_day_is_singular(self, settings: Settings) -> None:
        rendered = render("manager_invitation", settings)

        assert "expires in 1 day." in rendered.text_body


class TestMembershipEnded:
    def test_a_removal_names_who_removed(self, settings: Settings) -> None:
        rendered = render("membership_ended", settings)

        assert "Olive Owner has removed you from Riley Homes" in rendered.text_body

    def test_leaving_says_so(self, settings: Settings) -> None:
        rendered = render("membership_ended", settings, left=True)

        assert "You have left Riley Homes" in rendered.text_body
        assert "removed you" not in rendered.text_body
