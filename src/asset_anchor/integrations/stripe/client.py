"""The one piece of code that talks to Stripe: its REST API through httpx.

Every request carries our secret key, a pinned ``Stripe-Version`` (so an
account's default version never changes what we send or get back) and a
timeout. Writes carry an ``Idempotency-Key`` that the caller derives from our
own ids, so a retried write is the same write. A request is retried, with a
short jittered backoff, only when that is safe: reads, and writes with an
idempotency key, after a network error, a timeout, a 429 or a 5xx (or when
Stripe says ``Stripe-Should-Retry: true``).

Stripe's answers come back as plain dicts; its errors as ``StripeError``,
which says whether trying again later might help. Nothing here knows our
domains.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from asset_anchor.jobs.errors import JobError, PermanentJobError, TransientJobError
from asset_anchor.logging import get_logger

log = get_logger(__name__)

API_VERSION = "2026-10-28.endive"
MAX_RETRIES = 2
_RETRY_BASE_SECONDS = 0.25


class StripeError(Exception):
    """Stripe did not do what was asked. The message is safe to log and show
    to staff: it never holds the key, and Stripe's own text is kept short."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        status: int | None = None,
        code: str | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.code = code
        self.error_type = error_type
        self.request_id = request_id

    @property
    def not_found(self) -> bool:
        return self.status == 404

    def to_job_error(self) -> JobError:
        if self.transient:
            return TransientJobError(str(self))
        return PermanentJobError(str(self))


@dataclass(frozen=True)
class StripeConfig:
    secret_key: str
    api_url: str = "https://api.stripe.com"


def encode(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: ``a[b]=…`` for nested keys, ``a[0]=…`` for lists."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            pairs += encode(value, name)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                item_name = f"{name}[{index}]"
                if isinstance(item, Mapping):
                    pairs += encode(item, item_name)
                else:
                    pairs.append((item_name, _scalar(item)))
        else:
            pairs.append((name, _scalar(value)))
    return pairs


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _backoff(attempt: int) -> float:
    """Seconds before retry ``attempt``: doubling, with jitter so that many
    clients retrying at once spread out (not a secret, so ``random`` will do)."""
    jitter = random.uniform(0.5, 1)  # noqa: S311
    return float(_RETRY_BASE_SECONDS * 2**attempt * jitter)


def _retryable(response: httpx.Response) -> bool:
    should: str | None = response.headers.get("stripe-should-retry")
    if should is not None:
        return should == "true"
    status: int = response.status_code
    return status == 429 or status >= 500


def _error_of(response: httpx.Response) -> StripeError:
    try:
        body = response.json().get("error", {})
    except ValueError:
        body = {}
    message = str(body.get("message") or response.reason_phrase)[:300]
    return StripeError(
        f"Stripe answered {response.status_code}: {message}",
        transient=_retryable(response),
        status=response.status_code,
        code=body.get("code"),
        error_type=body.get("type"),
        request_id=response.headers.get("request-id"),
    )


Lister = Callable[..., Awaitable[dict[str, Any]]]


async def pages(lister: Lister, **params: Any) -> AsyncIterator[dict[str, Any]]:
    """Each page of one of Stripe's lists (``lister`` is a ``list_*`` method
    of the client, ``params`` its arguments), following ``starting_after``."""
    after: str | None = None
    while True:
        page = await lister(**params, starting_after=after)
        yield page
        items = page.get("data") or []
        if not page.get("has_more") or not items:
            return
        after = str(items[-1]["id"])


async def every(lister: Lister, **params: Any) -> AsyncIterator[dict[str, Any]]:
    """Each item of one of Stripe's lists, page after page."""
    async for page in pages(lister, **params):
        for item in page.get("data") or []:
            yield item


class StripeClient:
    """Stripe's API for one secret key, over the caller's httpx client."""

    def __init__(
        self, http: httpx.AsyncClient, config: StripeConfig, *, timeout: float = 10
    ) -> None:
        self._http = http
        self._config = config
        self._timeout = timeout

    def __repr__(self) -> str:
        return "StripeClient(<key hidden>)"

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        account: str | None = None,
    ) -> dict[str, Any]:
        """One API call, retried when safe; the decoded JSON answer."""
        headers = {
            "Authorization": f"Bearer {self._config.secret_key}",
            "Stripe-Version": API_VERSION,
        }
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if account is not None:
            headers["Stripe-Account"] = account
        url = f"{self._config.api_url.rstrip('/')}{path}"
        form: list[tuple[str, str | int | float | bool | None]] = list(
            encode(params or {})
        )
        safe = method == "GET" or idempotency_key is not None
        attempt = 0
        while True:
            try:
                if method == "GET":
                    response = await self._http.request(
                        method, url, params=form, headers=headers, timeout=self._timeout
                    )
                else:
                    response = await self._http.request(
                        method,
                        url,
                        data=dict(form),
                        headers=headers,
                        timeout=self._timeout,
                    )
            except httpx.TransportError as error:
                failure = StripeError(
                    f"Stripe could not be reached ({type(error).__name__})",
                    transient=True,
                )
            else:
                if response.is_success:
                    answer: dict[str, Any] = response.json()
                    return answer
                failure = _error_of(response)
            if not (safe and failure.transient and attempt < MAX_RETRIES):
                log.warning(
                    "stripe.request_failed",
                    method=method,
                    path=path,
                    status=failure.status,
                    code=failure.code,
                    stripe_request_id=failure.request_id,
                )
                raise failure
            attempt += 1
            await asyncio.sleep(_backoff(attempt))

    # --- Connect --------------------------------------------------------------

    async def create_account(
        self,
        *,
        organization_id: str,
        email: str | None,
        country: str,
        replacing: str | None = None,
    ) -> dict[str, Any]:
        """An Express account for an organization (one, whatever the retries).

        ``replacing`` names the disconnected account a new one takes the place
        of: the key differs, so Stripe makes a new account instead of
        answering the old one again.
        """
        key = f"account-{organization_id}"
        if replacing is not None:
            key = f"{key}-after-{replacing}"
        return await self.request(
            "POST",
            "/v1/accounts",
            {
                "type": "express",
                "country": country,
                "email": email,
                "capabilities": {
                    "card_payments": {"requested": True},
                    "transfers": {"requested": True},
                    "us_bank_account_ach_payments": {"requested": True},
                },
                "metadata": {"organization_id": organization_id},
            },
            idempotency_key=key,
        )

    async def create_account_link(
        self, *, account: str, refresh_url: str, return_url: str
    ) -> dict[str, Any]:
        return await self.request(
            "POST",
            "/v1/account_links",
            {
                "account": account,
                "refresh_url": refresh_url,
                "return_url": return_url,
                "type": "account_onboarding",
            },
        )

    async def retrieve_account(self, account: str) -> dict[str, Any]:
        return await self.request("GET", f"/v1/accounts/{account}")

    # --- payments -------------------------------------------------------------

    async def create_payment_intent(
        self,
        *,
        payment_id: str,
        amount: int,
        currency: str,
        method: str,
        destination: str,
        application_fee_amount: int,
        description: str,
        metadata: Mapping[str, str],
    ) -> dict[str, Any]:
        """A destination charge: the money is the connected account's, less our
        fee. Keyed by our payment id, so a retry never makes a second one."""
        return await self.request(
            "POST",
            "/v1/payment_intents",
            {
                "amount": amount,
                "currency": currency.lower(),
                "payment_method_types": [method],
                "transfer_data": {"destination": destination},
                "application_fee_amount": application_fee_amount or None,
                "description": description,
                "metadata": dict(metadata),
            },
            idempotency_key=f"payment-{payment_id}",
        )

    async def retrieve_payment_intent(self, payment_intent: str) -> dict[str, Any]:
        return await self.request(
            "GET",
            f"/v1/payment_intents/{payment_intent}",
            {"expand": ["latest_charge"]},
        )

    async def list_payment_intents(
        self, *, created_gte: int, starting_after: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        return await self.request(
            "GET",
            "/v1/payment_intents",
            {
                "created": {"gte": created_gte},
                "starting_after": starting_after,
                "limit": limit,
            },
        )

    async def create_refund(
        self,
        *,
        refund_id: str,
        payment_intent: str,
        amount: int,
        refund_application_fee: bool,
        metadata: Mapping[str, str],
    ) -> dict[str, Any]:
        """Give back part or all of a destination charge, taking it back from
        the connected account (``reverse_transfer``) so the platform is not
        left paying it."""
        return await self.request(
            "POST",
            "/v1/refunds",
            {
                "payment_intent": payment_intent,
                "amount": amount,
                "reverse_transfer": True,
                "refund_application_fee": refund_application_fee,
                "metadata": dict(metadata),
            },
            idempotency_key=f"refund-{refund_id}",
        )

    async def list_refunds(
        self, *, charge: str, starting_after: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """One page of a charge's refunds, newest first."""
        return await self.request(
            "GET",
            "/v1/refunds",
            {"charge": charge, "starting_after": starting_after, "limit": limit},
        )

    async def retrieve_charge(self, charge: str) -> dict[str, Any]:
        return await self.request(
            "GET", f"/v1/charges/{charge}", {"expand": ["refunds"]}
        )

    async def retrieve_dispute(self, dispute: str) -> dict[str, Any]:
        return await self.request("GET", f"/v1/disputes/{dispute}")

    async def reverse_transfer(
        self,
        *,
        transfer: str,
        amount: int,
        refund_application_fee: bool,
        key: str,
        metadata: Mapping[str, str],
    ) -> dict[str, Any]:
        """Take ``amount`` of a destination charge's transfer back from the
        connected account to the platform (once per ``key``)."""
        return await self.request(
            "POST",
            f"/v1/transfers/{transfer}/reversals",
            {
                "amount": amount,
                "refund_application_fee": refund_application_fee,
                "metadata": dict(metadata),
            },
            idempotency_key=key,
        )

    async def list_transfer_reversals(
        self, *, transfer: str, starting_after: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        return await self.request(
            "GET",
            f"/v1/transfers/{transfer}/reversals",
            {"starting_after": starting_after, "limit": limit},
        )

    async def list_transfers(
        self,
        *,
        destination: str,
        created_gte: int,
        starting_after: str | None = None,
        limit: int = 100,
    ) -> dict[str, Any]:
        return await self.request(
            "GET",
            "/v1/transfers",
            {
                "destination": destination,
                "created": {"gte": created_gte},
                "starting_after": starting_after,
                "limit": limit,
            },
        )

    async def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        source_transaction: str,
        key: str,
        metadata: Mapping[str, str],
    ) -> dict[str, Any]:
        """Pay ``amount`` from the platform to a connected account, out of the
        funds of charge ``source_transaction`` (once per ``key``)."""
        return await self.request(
            "POST",
            "/v1/transfers",
            {
                "amount": amount,
                "currency": currency.lower(),
                "destination": destination,
                "source_transaction": source_transaction,
                "metadata": dict(metadata),
            },
            idempotency_key=key,
        )

    # --- events ---------------------------------------------------------------

    async def list_events(
        self,
        *,
        created_gte: int,
        starting_after: str | None = None,
        limit: int = 100,
        delivery_success: bool | None = None,
    ) -> dict[str, Any]:
        return await self.request(
            "GET",
            "/v1/events",
            {
                "created": {"gte": created_gte},
                "starting_after": starting_after,
                "limit": limit,
                "delivery_success": delivery_success,
            },
        )
