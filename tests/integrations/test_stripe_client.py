"""The Stripe adapter on its own: what it sends, what it retries, what it raises."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest

from asset_anchor.integrations.stripe import (
    API_VERSION,
    StripeClient,
    StripeConfig,
    StripeError,
    encode,
)
from asset_anchor.integrations.stripe import client as stripe_module

KEY = "sk_test_adapter_key_0000000000000000"
API = "https://stripe.test"


class Recorder:
    """A transport answering from a script, one reply per request."""

    def __init__(self, *replies: httpx.Response | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def client_of(recorder: Recorder) -> StripeClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    return StripeClient(http, StripeConfig(KEY, API), timeout=3)


def stripe_error(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "error": {
                "type": "invalid_request_error" if status < 500 else "api_error",
                "code": "resource_missing" if status == 404 else None,
                "message": f"status {status}",
            }
        },
        headers={"request-id": "req_123", **headers},
    )


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe_module, "_backoff", lambda attempt: 0.0)


class TestEncoding:
    def test_nested_keys_lists_and_booleans_are_stripes_form(self) -> None:
        pairs = encode(
            {
                "amount": 1500,
                "transfer_data": {"destination": "acct_1"},
                "payment_method_types": ["card"],
                "metadata": {"lease_id": "L1"},
                "reverse_transfer": True,
                "description": None,
            }
        )

        assert pairs == [
            ("amount", "1500"),
            ("transfer_data[destination]", "acct_1"),
            ("payment_method_types[0]", "card"),
            ("metadata[lease_id]", "L1"),
            ("reverse_transfer", "true"),
        ]


class TestWhatIsSent:
    async def test_the_key_the_pinned_version_and_the_idempotency_key(self) -> None:
        recorder = Recorder(httpx.Response(200, json={"id": "re_1"}))

        await client_of(recorder).request(
            "POST", "/v1/refunds", {"amount": 100}, idempotency_key="refund-1"
        )

        [sent] = recorder.requests
        assert sent.headers["authorization"] == f"Bearer {KEY}"
        assert sent.headers["stripe-version"] == API_VERSION
        assert sent.headers["idempotency-key"] == "refund-1"
        assert dict(parse_qsl(sent.content.decode())) == {"amount": "100"}

    async def test_a_read_sends_its_parameters_in_the_query(self) -> None:
        recorder = Recorder(httpx.Response(200, json={"id": "pi_1"}))

        await client_of(recorder).retrieve_payment_intent("pi_1")

        [sent] = recorder.requests
        assert sent.method == "GET"
        assert sent.url.path == "/v1/payment_intents/pi_1"
        assert sent.url.params["expand[0]"] == "latest_charge"
        assert "idempotency-key" not in sent.headers


class TestRetries:
    async def test_a_read_is_retried_after_a_5xx_and_a_timeout(self) -> None:
        recorder = Recorder(
            stripe_error(503),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json={"id": "dp_1"}),
        )

        answer = await client_of(recorder).retrieve_dispute("dp_1")

        assert answer == {"id": "dp_1"}
        assert len(recorder.requests) == 3

    async def test_a_keyed_write_is_retried_with_the_same_key(self) -> None:
        recorder = Recorder(
            httpx.ConnectError("refused"), httpx.Response(200, json={"id": "tr_1"})
        )

        await client_of(recorder).create_transfer(
            amount=100,
            currency="USD",
            destination="acct_1",
            source_transaction="ch_1",
            key="dispute-dp_1-return",
            metadata={},
        )

        keys = [r.headers["idempotency-key"] for r in recorder.requests]
        assert keys == ["dispute-dp_1-return", "dispute-dp_1-return"]
        assert dict(parse_qsl(recorder.requests[1].content.decode()))["currency"] == (
            "usd"
        )

    async def test_a_write_without_a_key_is_never_retried(self) -> None:
        recorder = Recorder(stripe_error(500))

        with pytest.raises(StripeError) as raised:
            await client_of(recorder).request("POST", "/v1/anything", {"a": 1})

        assert len(recorder.requests) == 1
        assert raised.value.transient

    async def test_retries_stop_after_the_limit(self) -> None:
        replies = [stripe_error(502)] * (stripe_module.MAX_RETRIES + 1)
        recorder = Recorder(*replies)

        with pytest.raises(StripeError) as raised:
            await client_of(recorder).retrieve_charge("ch_1")

        assert len(recorder.requests) == stripe_module.MAX_RETRIES + 1
        assert raised.value.status == 502
        assert raised.value.transient

    async def test_stripe_saying_do_not_retry_is_obeyed(self) -> None:
        recorder = Recorder(stripe_error(500, **{"Stripe-Should-Retry": "false"}))

        with pytest.raises(StripeError) as raised:
            await client_of(recorder).retrieve_charge("ch_1")

        assert len(recorder.requests) == 1
        assert not raised.value.transient

    async def test_a_429_is_retried(self) -> None:
        recorder = Recorder(stripe_error(429), httpx.Response(200, json={"id": "x"}))

        await client_of(recorder).retrieve_account("acct_1")

        assert len(recorder.requests) == 2


class TestErrors:
    async def test_a_4xx_is_permanent_and_says_what_stripe_said(self) -> None:
        recorder = Recorder(stripe_error(404))

        with pytest.raises(StripeError) as raised:
            await client_of(recorder).retrieve_dispute("dp_missing")

        error = raised.value
        assert len(recorder.requests) == 1
        assert not error.transient
        assert error.not_found
        assert error.code == "resource_missing"
        assert error.error_type == "invalid_request_error"
        assert error.request_id == "req_123"
        assert "404" in str(error)
        assert error.to_job_error().__class__.__name__ == "PermanentJobError"

    async def test_an_unreachable_stripe_is_transient_for_the_worker(self) -> None:
        recorder = Recorder(*[httpx.ConnectError("down")] * 3)

        with pytest.raises(StripeError) as raised:
            await client_of(recorder).retrieve_charge("ch_1")

        assert raised.value.transient
        assert raised.value.to_job_error().__class__.__name__ == "TransientJobError"

    async def test_the_secret_key_shows_nowhere(self) -> None:
        recorder = Recorder(stripe_error(401))
        client = client_of(recorder)

        with pytest.raises(StripeError) as raised:
            await client.retrieve_charge("ch_1")

        assert KEY not in repr(client)
        assert KEY not in str(raised.value)
