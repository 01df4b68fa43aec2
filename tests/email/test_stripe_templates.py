"""The emails about a payment's later life at Stripe: its refund, a refund
Stripe refused, and a dispute."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from asset_anchor.email.templates import RenderedEmail, known_kind, render_email
from asset_anchor.settings import Settings

FRONTEND_URL = "https://app.example.test"
LEASE_ID = "5b0c8a4e-3f9d-4a51-9c1e-2d7f0e6b11e1"
PAYMENT_ID = "0d3e9c1a-8b7f-4e2d-a6c5-1f0e9d8c7b6a"
PLACE = {
    "organization_name": "Riley Homes",
    "property_name": "Birch House",
    "unit_label": "Apt 4",
}
DISPUTE = {**PLACE, "amount": "1,500.00 USD", "reason": "fraudulent", "due_by": None}
CONTEXTS: dict[str, dict[str, Any]] = {
    "refund_receipt": {
        **PLACE,
        "payment_id": PAYMENT_ID,
        "amount": "600.00 USD",
        "paid_amount": "1,500.00 USD",
        "paid_on": "2027-01-02",
        "refunded_on": "2027-01-05",
        "by_card": True,
        "reason": "Paid twice",
        "balance": "600.00 USD",
        "in_credit": False,
        "settled": False,
    },
    "refund_failed_staff": {
        **PLACE,
        "amount": "600.00 USD",
        "reason": "Stripe answered 400: The charge is disputed.",
        "lease_id": LEASE_ID,
    },
    "payment_disputed": {**DISPUTE, "lease_id": LEASE_ID},
    "payment_disputed_staff": {**DISPUTE, "lease_id": LEASE_ID},
}


@pytest.fixture
def settings() -> Settings:
    return Settings(environment="test", frontend_url=FRONTEND_URL)


def render(kind: str, settings: Settings, **overrides: Any) -> RenderedEmail:
    return render_email(
        kind,
        settings=settings,
        recipient_name="Casey Tenant",
        context={**CONTEXTS[kind], **overrides},
    )


def visible(html_body: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", html_body)).split())


class TestEveryKind:
    @pytest.mark.parametrize("kind", CONTEXTS)
    def test_both_templates_exist_and_name_the_amount(
        self, kind: str, settings: Settings
    ) -> None:
        rendered = render(kind, settings)

        assert known_kind(kind)
        assert "Hi Casey Tenant," in rendered.text_body
        assert "Hi Casey Tenant," in visible(rendered.html_body)
        amount = CONTEXTS[kind]["amount"]
        assert amount in rendered.subject
        assert amount in visible(rendered.html_body)

    @pytest.mark.parametrize("kind", CONTEXTS)
    def test_names_are_escaped_in_html_only(
        self, kind: str, settings: Settings
    ) -> None:
        rendered = render(kind, settings, unit_label="<b>Apt & 4</b>")

        assert "<b>Apt" not in rendered.html_body
        assert "&lt;b&gt;Apt &amp; 4&lt;/b&gt;" in rendered.html_body
        assert "<b>Apt & 4</b>" in rendered.text_body


class TestRefundReceipt:
    def test_it_says_what_came_back_where_and_what_is_owed(
        self, settings: Settings
    ) -> None:
        rendered = render("refund_receipt", settings)

        assert rendered.subject == "Refund: 600.00 USD from Riley Homes"
        assert (
            "Riley Homes has refunded 600.00 USD of your payment of 1,500.00 USD"
            " (made on 2027-01-02) for Apt 4 at Birch House, on 2027-01-05."
        ) in rendered.text_body
        assert "It goes back to the card you paid with" in rendered.text_body
        assert "Reason given: Paid twice" in rendered.text_body
        assert "Owed after this refund: 600.00 USD." in rendered.text_body
        link = f"{FRONTEND_URL}/payments/{PAYMENT_ID}"
        assert link in rendered.text_body
        assert f'href="{link}"' in rendered.html_body

    def test_a_bank_payment_goes_back_to_the_account_and_no_reason_is_left_out(
        self, settings: Settings
    ) -> None:
        rendered = render("refund_receipt", settings, by_card=False, reason="")

        assert "back to the bank account you paid with" in rendered.text_body
        assert "Reason given" not in rendered.text_body


class TestDispute:
    def test_staff_are_given_the_deadline_when_stripe_has_one(
        self, settings: Settings
    ) -> None:
        rendered = render(
            "payment_disputed_staff", settings, due_by="2027-01-20T23:59:59+00:00"
        )

        assert "in the Stripe dashboard by 20 January 2027, 23:59 UTC" in (
            rendered.text_body
        )
        assert 'datetime="2027-01-20T23:59:59+00:00"' in rendered.html_body

    def test_the_tenant_hears_it_is_owed_again(self, settings: Settings) -> None:
        rendered = render("payment_disputed", settings)

        assert rendered.subject == (
            "Your payment of 1,500.00 USD to Riley Homes is disputed"
        )
        assert "so the amount is owed again" in rendered.text_body
        assert f"{FRONTEND_URL}/leases/{LEASE_ID}" in rendered.text_body
