"""The scheduled rent emails: reminders before and on the due date, and the
monthly statement."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from asset_anchor.email.templates import RenderedEmail, known_kind, render_email
from asset_anchor.settings import Settings

FRONTEND_URL = "https://app.example.test"
RECIPIENT = "Casey Tenant"
LEASE_ID = "5b0c8a4e-3f9d-4a51-9c1e-2d7f0e6b11e1"
PLACE = {
    "organization_name": "Riley Homes",
    "property_name": "Birch House",
    "unit_label": "Apt 4",
}
CONTEXTS: dict[str, dict[str, Any]] = {
    "rent_reminder": {
        **PLACE,
        "lease_id": LEASE_ID,
        "amount": "1,500.00 USD",
        "due_on": "1 February 2027",
        "period": "February 2027",
        "due_today": False,
        "days_left": 3,
    },
    "monthly_statement": {
        **PLACE,
        "lease_id": LEASE_ID,
        "month": "January 2027",
        "opening_balance": "0.00 USD",
        "charges": "1,500.00 USD",
        "payments": "1,000.00 USD",
        "closing_balance": "500.00 USD",
        "in_credit": False,
        "settled": False,
    },
}


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
    """The words a reader sees, table cells apart."""
    cells_apart = html_body.replace("</td>", " </td>")
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", cells_apart)).split())


class TestEveryKind:
    @pytest.mark.parametrize("kind", CONTEXTS)
    def test_both_templates_exist_and_greet_by_name(
        self, kind: str, settings: Settings
    ) -> None:
        rendered = render(kind, settings)

        assert known_kind(kind)
        assert f"Hi {RECIPIENT}," in rendered.text_body
        assert f"Hi {RECIPIENT}," in visible(rendered.html_body)
        assert "Asset Anchor" in rendered.text_body
        assert "Riley Homes" in rendered.subject

    @pytest.mark.parametrize("kind", CONTEXTS)
    def test_the_link_is_the_front_ends_lease_page(
        self, kind: str, settings: Settings
    ) -> None:
        rendered = render(kind, settings)

        link = f"{FRONTEND_URL}/leases/{LEASE_ID}"
        assert link in rendered.text_body
        assert f'href="{link}"' in rendered.html_body

    @pytest.mark.parametrize("kind", CONTEXTS)
    def test_names_are_escaped_in_html_only(
        self, kind: str, settings: Settings
    ) -> None:
        rendered = render(kind, settings, unit_label="<b>Apt & 4</b>")

        assert "<b>Apt" not in rendered.html_body
        assert "&lt;b&gt;Apt &amp; 4&lt;/b&gt;" in rendered.html_body
        assert "<b>Apt & 4</b>" in rendered.text_body

    @pytest.mark.parametrize("kind", CONTEXTS)
    def test_the_reason_names_the_tenancy(self, kind: str, settings: Settings) -> None:
        rendered = render(kind, settings)

        assert (
            "You are receiving this because you are a tenant of Apt 4 at Birch House."
            in rendered.text_body
        )


class TestRentReminder:
    def test_before_the_due_date_it_says_when_and_how_much(
        self, settings: Settings
    ) -> None:
        rendered = render("rent_reminder", settings)

        assert rendered.subject == (
            "Rent of 1,500.00 USD due to Riley Homes on 1 February 2027"
        )
        expected = (
            "Your rent for Apt 4 at Birch House is due on 1 February 2027,"
            " in 3 days: 1,500.00 USD is still to pay for February 2027."
        )
        assert expected in rendered.text_body
        assert expected in visible(rendered.html_body)

    def test_one_day_is_singular(self, settings: Settings) -> None:
        rendered = render("rent_reminder", settings, days_left=1)

        assert "in 1 day: 1,500.00 USD" in rendered.text_body

    def test_on_the_due_date_it_says_today(self, settings: Settings) -> None:
        rendered = render("rent_reminder", settings, due_today=True, days_left=0)

        assert rendered.subject == "Rent of 1,500.00 USD due to Riley Homes today"
        assert "is due today: 1,500.00 USD is still to pay" in rendered.text_body
        assert "in 0 days" not in rendered.text_body


class TestMonthlyStatement:
    def test_the_four_figures_are_shown(self, settings: Settings) -> None:
        rendered = render("monthly_statement", settings)

        assert rendered.subject == "Your January 2027 statement from Riley Homes"
        for line in (
            "Opening balance:       0.00 USD",
            "Charges:               1,500.00 USD",
            "Payments and credits:  1,000.00 USD",
            "Closing balance:       500.00 USD",
        ):
            assert line in rendered.text_body
        shown = visible(rendered.html_body)
        assert "Opening balance 0.00 USD" in shown
        assert "Closing balance 500.00 USD" in shown
        assert "This was owed at the end of January 2027" in rendered.text_body

    def test_a_credit_says_it_goes_to_the_next_charge(self, settings: Settings) -> None:
        rendered = render(
            "monthly_statement",
            settings,
            closing_balance="200.00 USD in credit",
            in_credit=True,
        )

        assert "Closing balance:       200.00 USD in credit" in rendered.text_body
        assert "it will go towards your next charge" in rendered.text_body
        assert "was owed" not in rendered.text_body

    def test_a_settled_month_says_nothing_was_owed(self, settings: Settings) -> None:
        rendered = render(
            "monthly_statement", settings, closing_balance="0.00 USD", settled=True
        )

        assert "Nothing was owed at the end of January 2027." in rendered.text_body
