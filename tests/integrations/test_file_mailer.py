from __future__ import annotations

import email
import logging
import os
import stat
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import httpx
import pytest

from asset_anchor.integrations.email import (
    DeliveryReceipt,
    EmailDeliveryError,
    FileMailer,
    OutgoingEmail,
    build_mailer,
)
from asset_anchor.settings import Settings

SENDER = "Asset Anchor <support@assetanchor.example.test>"


def an_email(**overrides: Any) -> OutgoingEmail:
    values: dict[str, Any] = {
        "message_key": "email-42",
        "to_address": "jordan.lee@tenants.example.test",
        "to_name": "Jordan Lee",
        "subject": "Your lease is ready",
        "text_body": "Your lease for unit 4B is ready to sign.",
        "html_body": "<p>Your lease for <b>unit 4B</b> is ready to sign.</p>",
        "tag": "test",
    }
    values.update(overrides)
    return OutgoingEmail(**values)


def read_message(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    return message


def entries(directory: Path) -> list[str] | None:
    """The names in a directory, or None if it does not exist."""
    return sorted(os.listdir(directory)) if directory.exists() else None


def permission_bits(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "mail" / "outbox"


@pytest.fixture
def mailer(outbox: Path) -> FileMailer:
    return FileMailer(outbox, sender=SENDER)


class TestFileMailerWrite:
    async def test_writes_a_parseable_message_with_both_parts(
        self, mailer: FileMailer, outbox: Path
    ) -> None:
        await mailer.send(an_email())

        message = read_message(outbox / "email-42.eml")
        assert message["From"] == SENDER
        assert message["To"] == "Jordan Lee <jordan.lee@tenants.example.test>"
        assert message["Subject"] == "Your lease is ready"
        assert message["Date"].datetime.tzinfo is not None
        assert message["Message-ID"] == "<email-42@assetanchor.example.test>"
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        assert text is not None
        assert html is not None
        assert text.get_content().strip() == "Your lease for unit 4B is ready to sign."
        assert "<b>unit 4B</b>" in html.get_content()

    async def test_receipt_names_the_file(self, mailer: FileMailer) -> None:
        receipt = await mailer.send(an_email())

        assert receipt == DeliveryReceipt(provider="file", message_id="email-42.eml")

    async def test_missing_directory_is_created_private(
        self, mailer: FileMailer, outbox: Path
    ) -> None:
        assert entries(outbox) is None

        await mailer.send(an_email())

        assert entries(outbox) == ["email-42.eml"]
        assert permission_bits(outbox) & 0o077 == 0

    async def test_leaves_no_temporary_file_behind(
        self, mailer: FileMailer, outbox: Path
    ) -> None:
        await mailer.send(an_email())

        assert entries(outbox) == ["email-42.eml"]

    async def test_logs_path_and_subject(
        self,
        mailer: FileMailer,
        outbox: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.INFO)

        await mailer.send(an_email())

        [record] = [r for r in caplog.records if r.getMessage() == "email.file_written"]
        assert vars(record)["event_fields"] == {
            "path": str(outbox / "email-42.eml"),
            "subject": "Your lease is ready",
        }


class TestFileMailerIdempotency:
    async def test_second_send_with_same_key_does_not_rewrite(
        self, mailer: FileMailer, outbox: Path
    ) -> None:
        first = await mailer.send(an_email())
        path = outbox / "email-42.eml"
        content = path.read_bytes()
        earlier = path.stat().st_mtime_ns - 10_000_000_000
        os.utime(path, ns=(earlier, earlier))

        second = await mailer.send(an_email(subject="A different subject"))

        assert second == first
        assert path.stat().st_mtime_ns == earlier
        assert path.read_bytes() == content


class TestFileMailerUnsafeKeys:
    @pytest.mark.parametrize(
        "key", ["../x", ".hidden", "a/b", "", "x" * 129, "name with space", "..", "é"]
    )
    async def test_unsafe_key_is_refused_as_permanent(
        self, mailer: FileMailer, outbox: Path, key: str
    ) -> None:
        with pytest.raises(EmailDeliveryError) as caught:
            await mailer.send(an_email(message_key=key))

        assert caught.value.transient is False
        assert entries(outbox) is None

    async def test_longest_safe_key_is_accepted(
        self, mailer: FileMailer, outbox: Path
    ) -> None:
        key = "a" + "._-" * 42 + "z"

        receipt = await mailer.send(an_email(message_key=key))

        assert len(key) == 128
        assert (outbox / receipt.message_id).is_file()


class TestFileMailerWriteFailure:
    async def test_unwritable_directory_is_transient(self, tmp_path: Path) -> None:
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("a file where the directory should be")
        mailer = FileMailer(blocker / "mail", sender=SENDER)

        with pytest.raises(EmailDeliveryError) as caught:
            await mailer.send(an_email())

        assert caught.value.transient is True


class TestBuildMailerForFiles:
    async def test_file_backend_writes_under_the_configured_directory(
        self, tmp_path: Path
    ) -> None:
        settings = Settings(
            environment="test",
            email_backend="file",
            email_file_dir=str(tmp_path / "dev-mail"),
        )

        async with httpx.AsyncClient() as client:
            mailer = build_mailer(settings, client)
            await mailer.send(an_email())

        assert isinstance(mailer, FileMailer)
        message = read_message(tmp_path / "dev-mail" / "email-42.eml")
        assert message["From"] == "Asset Anchor <support@assetanchor.io>"
