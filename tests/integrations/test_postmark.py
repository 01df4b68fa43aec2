from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from asset_anchor.integrations.email import (
    DeliveryReceipt,
    EmailDeliveryError,
    OutgoingEmail,
    PostmarkMailer,
    build_mailer,
)
from asset_anchor.jobs.errors import PermanentJobError, TransientJobError
from asset_anchor.logging import JsonFormatter
from asset_anchor.settings import ConfigurationError, Settings

TOKEN = "server-token-0b7e4c1d-do-not-leak"
BASE_URL = "https://postmark.example.test"
MESSAGE_ID = "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"

Handler = Callable[[httpx.Request], httpx.Response]


def an_email(**overrides: Any) -> OutgoingEmail:
    values: dict[str, Any] = {
        "message_key": "email-42",
        "to_address": "jordan.lee@tenants.example.test",
        "to_name": "Jordan Lee",
        "subject": "Your lease is ready",
        "text_body": "Plain words.",
        "html_body": "<p>Plain words.</p>",
        "tag": "test",
    }
    values.update(overrides)
    return OutgoingEmail(**values)


def accepted(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "To": "jordan.lee@tenants.example.test",
            "SubmittedAt": "2025-03-01T07:30:00.0000000Z",
            "MessageID": MESSAGE_ID,
            "ErrorCode": 0,
            "Message": "OK",
        },
    )


def refused(status: int, error_code: int, message: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, json={"ErrorCode": error_code, "Message": message}
        )

    return handler


class FakePostmark:
    """Postmark at the HTTP layer: answers with a handler, keeps the requests."""

    def __init__(self) -> None:
        self.handler: Handler = accepted
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


@pytest.fixture
def postmark() -> FakePostmark:
    return FakePostmark()


@pytest.fixture
async def mailer(postmark: FakePostmark) -> AsyncIterator[PostmarkMailer]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(postmark)) as client:
        yield PostmarkMailer(
            client,
            token=TOKEN,
            base_url=f"{BASE_URL}/",
            sender='"Asset Anchor" <support@assetanchor.example.test>',
            message_stream="outbound",
            timeout=3.0,
        )


async def send_refused(mailer: PostmarkMailer) -> EmailDeliveryError:
    with pytest.raises(EmailDeliveryError) as caught:
        await mailer.send(an_email())
    return caught.value


def formatted_log(caplog: pytest.LogCaptureFixture) -> str:
    formatter = JsonFormatter()
    return "\n".join(formatter.format(record) for record in caplog.records)


class TestPostmarkRequest:
    async def test_posts_json_to_the_email_endpoint_with_the_token(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        await mailer.send(an_email())

        [request] = postmark.requests
        assert request.method == "POST"
        assert str(request.url) == f"{BASE_URL}/email"
        assert request.headers["Accept"] == "application/json"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-Postmark-Server-Token"] == TOKEN

    async def test_body_carries_every_field_postmark_needs(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        await mailer.send(an_email())

        body = json.loads(postmark.requests[0].content)
        assert body == {
            "From": '"Asset Anchor" <support@assetanchor.example.test>',
            "To": "Jordan Lee <jordan.lee@tenants.example.test>",
            "Subject": "Your lease is ready",
            "TextBody": "Plain words.",
            "HtmlBody": "<p>Plain words.</p>",
            "Tag": "test",
            "MessageStream": "outbound",
            "Metadata": {"message_key": "email-42"},
            "TrackOpens": False,
        }

    async def test_name_with_punctuation_is_quoted(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        await mailer.send(an_email(to_name='Lee, Jordan "JL"'))

        body = json.loads(postmark.requests[0].content)
        assert body["To"] == (
            '"Lee, Jordan \\"JL\\"" <jordan.lee@tenants.example.test>'
        )

    async def test_recipient_without_name_is_the_bare_address(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        await mailer.send(an_email(to_name=None))

        body = json.loads(postmark.requests[0].content)
        assert body["To"] == "jordan.lee@tenants.example.test"


class TestPostmarkAccepted:
    async def test_receipt_holds_postmarks_message_id(
        self, mailer: PostmarkMailer
    ) -> None:
        receipt = await mailer.send(an_email())

        assert receipt == DeliveryReceipt(provider="postmark", message_id=MESSAGE_ID)

    async def test_log_names_the_domain_but_not_the_address(
        self, mailer: PostmarkMailer, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)

        await mailer.send(an_email())

        [record] = [
            r for r in caplog.records if r.getMessage() == "email.postmark_sent"
        ]
        assert vars(record)["event_fields"] == {
            "message_key": "email-42",
            "message_id": MESSAGE_ID,
            "tag": "test",
            "recipient_domain": "tenants.example.test",
        }
        assert "jordan.lee" not in formatted_log(caplog)
        assert TOKEN not in formatted_log(caplog)

    async def test_200_without_message_id_is_permanent(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        postmark.handler = lambda request: httpx.Response(200, text="OK")

        error = await send_refused(mailer)

        assert error.transient is False
        assert error.status == 200


class TestPostmarkTransientFailures:
    @pytest.mark.parametrize("status", [500, 503, 429])
    async def test_server_error_and_rate_limit_are_transient(
        self, mailer: PostmarkMailer, postmark: FakePostmark, status: int
    ) -> None:
        postmark.handler = lambda request: httpx.Response(status, text="busy")

        error = await send_refused(mailer)

        assert error.transient is True
        assert error.status == status

    async def test_rate_limit_passes_retry_after_on(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        postmark.handler = lambda request: httpx.Response(
            429, headers={"Retry-After": "30"}, json={"ErrorCode": 429}
        )

        error = await send_refused(mailer)

        assert error.retry_after_seconds == 30.0
        assert error.provider_code == 429

    async def test_timeout_is_transient(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        def time_out(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("no answer", request=request)

        postmark.handler = time_out

        error = await send_refused(mailer)

        assert error.transient is True
        assert error.status is None
        assert "timed out" in str(error)

    async def test_connection_failure_is_transient(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

        postmark.handler = refuse

        error = await send_refused(mailer)

        assert error.transient is True
        assert "ConnectError" in str(error)

    async def test_account_out_of_credits_is_transient(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        postmark.handler = refused(422, 405, "Not allowed to send")

        error = await send_refused(mailer)

        assert error.transient is True
        assert error.provider_code == 405


class TestPostmarkPermanentFailures:
    async def test_inactive_recipient_is_permanent(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        postmark.handler = refused(
            422,
            406,
            "You tried to send to recipient(s) that have been marked as inactive."
            " Found inactive addresses: jordan.lee@tenants.example.test.",
        )

        error = await send_refused(mailer)

        assert error.transient is False
        assert error.recipient_inactive is True
        assert error.provider_code == 406
        assert error.status == 422
        assert "jordan.lee" not in str(error)
        assert "***@tenants.example.test" in str(error)

    async def test_invalid_email_request_is_permanent(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        postmark.handler = refused(422, 300, "Invalid 'To' address: 'nobody'.")

        error = await send_refused(mailer)

        assert error.transient is False
        assert error.recipient_inactive is False
        assert error.provider_code == 300
        assert "Invalid 'To' address" in str(error)

    async def test_unknown_error_code_is_permanent(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        postmark.handler = refused(422, 9999, "Something new")

        error = await send_refused(mailer)

        assert error.transient is False
        assert error.provider_code == 9999

    async def test_bad_token_is_permanent(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        postmark.handler = refused(401, 10, f"Bad or missing Server API token: {TOKEN}")

        error = await send_refused(mailer)

        assert error.transient is False
        assert error.status == 401
        assert error.provider_code == 10

    async def test_other_client_error_is_permanent(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        postmark.handler = lambda request: httpx.Response(413, text="too large")

        error = await send_refused(mailer)

        assert error.transient is False
        assert error.status == 413

    async def test_non_json_error_body_is_handled(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        postmark.handler = lambda request: httpx.Response(
            422, text="<html>Unprocessable</html>"
        )

        error = await send_refused(mailer)

        assert error.transient is False
        assert error.provider_code is None
        assert str(error) == "Postmark refused the email (HTTP 422)"

    async def test_json_body_that_is_not_an_object_is_handled(
        self, mailer: PostmarkMailer, postmark: FakePostmark
    ) -> None:
        postmark.handler = lambda request: httpx.Response(503, json=["down"])

        error = await send_refused(mailer)

        assert error.transient is True
        assert error.provider_code is None


class TestPostmarkSecrecy:
    async def test_token_echoed_by_postmark_is_not_in_the_error_or_log(
        self,
        mailer: PostmarkMailer,
        postmark: FakePostmark,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        postmark.handler = refused(401, 10, f"Bad or missing Server API token: {TOKEN}")

        error = await send_refused(mailer)

        assert TOKEN not in str(error)
        assert TOKEN not in repr(error.args)
        assert "email.postmark_failed" in formatted_log(caplog)
        assert TOKEN not in formatted_log(caplog)

    async def test_failure_log_has_status_code_and_kind(
        self,
        mailer: PostmarkMailer,
        postmark: FakePostmark,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        postmark.handler = refused(422, 406, "Inactive recipient")

        await send_refused(mailer)

        [record] = [
            r for r in caplog.records if r.getMessage() == "email.postmark_failed"
        ]
        assert vars(record)["event_fields"] == {
            "message_key": "email-42",
            "tag": "test",
            "status": 422,
            "error_code": 406,
            "transient": False,
        }


class TestToJobError:
    def test_transient_error_becomes_transient_job_error(self) -> None:
        error = EmailDeliveryError(
            "Postmark refused the email (HTTP 503)",
            transient=True,
            status=503,
            retry_after_seconds=12.0,
        )

        job_error = error.to_job_error()

        assert isinstance(job_error, TransientJobError)
        assert str(job_error) == "Postmark refused the email (HTTP 503)"
        assert job_error.retry_after_seconds == 12.0

    def test_permanent_error_becomes_permanent_job_error(self) -> None:
        error = EmailDeliveryError(
            "Postmark refused the email (HTTP 422, ErrorCode 406)",
            transient=False,
            provider_code=406,
            status=422,
        )

        job_error = error.to_job_error()

        assert isinstance(job_error, PermanentJobError)
        assert str(job_error) == "Postmark refused the email (HTTP 422, ErrorCode 406)"


class TestBuildMailerForPostmark:
    async def test_postmark_backend_sends_with_settings_values(
        self, postmark: FakePostmark
    ) -> None:
        settings = Settings(
            environment="test",
            email_backend="postmark",
            postmark_api_token=TOKEN,
            postmark_api_url=BASE_URL,
            postmark_message_stream="transactional",
            email_from="help@assetanchor.example.test",
            email_from_name="Asset Anchor, Support",
        )

        async with httpx.AsyncClient(transport=httpx.MockTransport(postmark)) as client:
            mailer = build_mailer(settings, client)
            await mailer.send(an_email())

        assert isinstance(mailer, PostmarkMailer)
        body = json.loads(postmark.requests[0].content)
        assert body["From"] == '"Asset Anchor, Support" <help@assetanchor.example.test>'
        assert body["MessageStream"] == "transactional"
        assert postmark.requests[0].headers["X-Postmark-Server-Token"] == TOKEN

    async def test_postmark_backend_without_token_is_refused(self) -> None:
        settings = Settings(environment="test", email_backend="postmark")

        async with httpx.AsyncClient() as client:
            with pytest.raises(ConfigurationError) as caught:
                build_mailer(settings, client)

        assert caught.value.problems == ["POSTMARK_API_TOKEN is not set"]
