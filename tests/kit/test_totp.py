"""RFC 6238 codes, the matching window, replay refusal and the otpauth URI."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from asset_anchor.kit.totp import (
    code_at,
    current_step,
    match_step,
    new_secret,
    provisioning_uri,
)

# RFC 6238 appendix B: the SHA1 seed is the ASCII string "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode("ascii")

# A fixed instant in the middle of a 30-second step.
NOW = datetime(2025, 3, 1, 9, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("unix_time", "eight_digits"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_code_at_matches_rfc_6238_sha1_vectors(
    unix_time: int, eight_digits: str
) -> None:
    # The RFC lists 8-digit values; a 6-digit code is the same number mod 10^6.
    assert code_at(RFC_SECRET, unix_time // 30) == eight_digits[-6:]


def test_secret_is_accepted_in_lower_case_with_spaces() -> None:
    spaced = " ".join(RFC_SECRET[i : i + 4] for i in range(0, 32, 4)).lower()

    assert code_at(spaced, 1) == "287082"


def test_invalid_secret_raises_value_error() -> None:
    with pytest.raises(ValueError, match="base32"):
        code_at("not base32!", 1)


def test_current_step_counts_30_second_periods_since_the_epoch() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)

    assert current_step(epoch + timedelta(seconds=59)) == 1
    assert current_step(epoch + timedelta(seconds=60)) == 2
    assert current_step(NOW) == int(NOW.timestamp()) // 30


def test_current_step_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive"):
        current_step(datetime(2025, 3, 1, 9, 30))  # noqa: DTZ001 - the case under test


def test_current_step_defaults_to_now() -> None:
    before = current_step(datetime.now(UTC))

    assert current_step() in {before, before + 1}


class TestMatchStep:
    @pytest.mark.parametrize("offset", [-1, 0, 1])
    def test_code_within_one_step_is_accepted(self, offset: int) -> None:
        step = current_step(NOW) + offset

        assert match_step(RFC_SECRET, code_at(RFC_SECRET, step), now=NOW) == step

    @pytest.mark.parametrize("offset", [-2, 2])
    def test_code_two_steps_away_is_refused(self, offset: int) -> None:
        code = code_at(RFC_SECRET, current_step(NOW) + offset)

        assert match_step(RFC_SECRET, code, now=NOW) is None

    def test_wider_window_accepts_further_steps(self) -> None:
        step = current_step(NOW) - 2

        assert match_step(RFC_SECRET, code_at(RFC_SECRET, step), now=NOW) is None
        assert (
            match_step(RFC_SECRET, code_at(RFC_SECRET, step), now=NOW, window=2) == step
        )

    def test_used_code_cannot_be_replayed(self) -> None:
        code = code_at(RFC_SECRET, current_step(NOW))

        used = match_step(RFC_SECRET, code, now=NOW)

        assert used is not None
        assert match_step(RFC_SECRET, code, now=NOW, after_step=used) is None

    def test_code_older_than_the_last_used_step_is_refused(self) -> None:
        step = current_step(NOW)
        earlier = code_at(RFC_SECRET, step - 1)

        assert match_step(RFC_SECRET, earlier, now=NOW, after_step=step) is None
        assert match_step(RFC_SECRET, earlier, now=NOW, after_step=step - 2) == (
            step - 1
        )

    def test_next_code_is_accepted_after_a_used_one(self) -> None:
        step = current_step(NOW)
        later = code_at(RFC_SECRET, step + 1)

        assert match_step(RFC_SECRET, later, now=NOW, after_step=step) == step + 1

    def test_spaces_inside_the_code_are_ignored(self) -> None:
        code = code_at(RFC_SECRET, current_step(NOW))

        spaced = f" {code[:3]} {code[3:]} "

        assert match_step(RFC_SECRET, spaced, now=NOW) == current_step(NOW)

    @pytest.mark.parametrize(
        "malformed",
        [
            "",
            "12345",
            "1234567",
            "12345a",
            "12-456",
            "\uff11\uff12\uff13\uff14\uff15\uff16",  # full-width digits
            "\u0663" * 6,  # Arabic-Indic digits: str.isdigit() is True
            "+12345",
        ],
    )
    def test_malformed_code_is_refused(self, malformed: str) -> None:
        assert match_step(RFC_SECRET, malformed, now=NOW) is None

    def test_wrong_code_is_refused(self) -> None:
        step = current_step(NOW)
        valid = {code_at(RFC_SECRET, s) for s in range(step - 1, step + 2)}
        wrong = next(c for c in ("000000", "111111", "222222") if c not in valid)

        assert match_step(RFC_SECRET, wrong, now=NOW) is None

    def test_negative_window_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="window"):
            match_step(RFC_SECRET, "123456", now=NOW, window=-1)


class TestProvisioningUri:
    def test_uri_format(self) -> None:
        uri = provisioning_uri(
            RFC_SECRET, account_name="owner@example.com", issuer="AssetAnchor"
        )

        assert uri == (
            "otpauth://totp/AssetAnchor:owner@example.com"
            f"?secret={RFC_SECRET}&issuer=AssetAnchor"
            "&algorithm=SHA1&digits=6&period=30"
        )

    def test_spaces_and_reserved_characters_are_percent_encoded(self) -> None:
        uri = provisioning_uri(
            RFC_SECRET,
            account_name="Jordan Riley <jordan+rent@example.com>",
            issuer="Asset Anchor & Co",
        )

        parts = urlsplit(uri)
        assert parts.scheme == "otpauth"
        assert parts.netloc == "totp"
        assert parts.path == (
            "/Asset%20Anchor%20%26%20Co:"
            "Jordan%20Riley%20%3Cjordan%2Brent@example.com%3E"
        )
        assert "+" not in parts.query.replace("%2B", "")
        assert "issuer=Asset%20Anchor%20%26%20Co" in parts.query
        issuer, account = unquote(parts.path[1:]).split(":")
        assert issuer == "Asset Anchor & Co"
        assert account == "Jordan Riley <jordan+rent@example.com>"
        assert parse_qs(parts.query)["issuer"] == ["Asset Anchor & Co"]

    def test_colon_in_a_label_part_is_encoded_not_taken_as_separator(self) -> None:
        uri = provisioning_uri(RFC_SECRET, account_name="a:b/c", issuer="X")

        assert urlsplit(uri).path == "/X:a%3Ab%2Fc"

    def test_secret_is_normalized_to_unpadded_upper_case(self) -> None:
        uri = provisioning_uri(
            RFC_SECRET.lower() + "====", account_name="a@b.c", issuer="X"
        )

        assert parse_qs(urlsplit(uri).query)["secret"] == [RFC_SECRET]


class TestNewSecret:
    def test_decodes_to_20_random_bytes(self) -> None:
        secret = new_secret()

        assert "=" not in secret
        assert len(base64.b32decode(secret)) == 20

    def test_each_secret_is_different(self) -> None:
        assert len({new_secret() for _ in range(20)}) == 20

    def test_new_secret_produces_working_codes(self) -> None:
        secret = new_secret()
        code = code_at(secret, current_step(NOW))

        assert match_step(secret, code, now=NOW) == current_step(NOW)
