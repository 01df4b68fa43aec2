"""Encryption at rest with key rotation."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.fernet import Fernet

from asset_anchor.kit.secretbox import SecretBox, SecretBoxError

OLD_KEY = "old-key-0123456789abcdef0123456789abcdef"
NEW_KEY = "new-key-fedcba9876543210fedcba9876543210"
OTHER_KEY = "other-key-00000000000000000000000000000000"
PLAINTEXT = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_round_trip() -> None:
    box = SecretBox(NEW_KEY)

    token = box.encrypt(PLAINTEXT)

    assert box.decrypt(token) == PLAINTEXT


def test_round_trip_of_non_ascii_text() -> None:
    box = SecretBox(NEW_KEY)

    assert box.decrypt(box.encrypt("clé secrète ✓")) == "clé secrète ✓"


def test_ciphertext_does_not_reveal_the_plaintext() -> None:
    box = SecretBox(NEW_KEY)

    token = box.encrypt(PLAINTEXT)

    assert PLAINTEXT not in token
    assert PLAINTEXT.encode() not in base64.urlsafe_b64decode(token)
    assert box.encrypt(PLAINTEXT) != token  # fresh IV each time


def test_token_is_a_standard_fernet_token_under_the_derived_key() -> None:
    # Pins the derivation: changing it would orphan every stored secret.
    derived = base64.urlsafe_b64encode(
        hashlib.sha256(b"asset-anchor secretbox v1\x00" + NEW_KEY.encode()).digest()
    )

    token = SecretBox(NEW_KEY).encrypt(PLAINTEXT)

    assert Fernet(derived).decrypt(token.encode()) == PLAINTEXT.encode()


def test_current_key_token_needs_no_reencryption() -> None:
    box = SecretBox(NEW_KEY, [OLD_KEY])

    assert box.needs_reencrypt(box.encrypt(PLAINTEXT)) is False


def test_old_key_token_opens_after_rotation_and_can_be_reencrypted() -> None:
    old_token = SecretBox(OLD_KEY).encrypt(PLAINTEXT)
    rotated_box = SecretBox(NEW_KEY, [OLD_KEY])

    assert rotated_box.decrypt(old_token) == PLAINTEXT
    assert rotated_box.needs_reencrypt(old_token) is True

    new_token = rotated_box.rotate(old_token)

    assert rotated_box.needs_reencrypt(new_token) is False
    assert rotated_box.decrypt(new_token) == PLAINTEXT
    # Once rotated, the old key can be dropped from the settings.
    assert SecretBox(NEW_KEY).decrypt(new_token) == PLAINTEXT


def test_token_from_an_unknown_key_is_refused() -> None:
    token = SecretBox(OTHER_KEY).encrypt(PLAINTEXT)
    box = SecretBox(NEW_KEY, [OLD_KEY])

    with pytest.raises(SecretBoxError):
        box.decrypt(token)
    with pytest.raises(SecretBoxError):
        box.needs_reencrypt(token)
    with pytest.raises(SecretBoxError):
        box.rotate(token)


def test_tampered_token_is_refused() -> None:
    box = SecretBox(NEW_KEY)
    raw = bytearray(base64.urlsafe_b64decode(box.encrypt(PLAINTEXT)))
    raw[30] ^= 0x01  # a bit inside the ciphertext, after version, time and IV
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode()

    with pytest.raises(SecretBoxError):
        box.decrypt(tampered)


@pytest.mark.parametrize("garbage", ["", "not a token", "gAAAAA", "é" * 40])
def test_garbage_is_refused_with_our_error_only(garbage: str) -> None:
    box = SecretBox(NEW_KEY)

    with pytest.raises(SecretBoxError):
        box.decrypt(garbage)


def test_error_is_a_value_error() -> None:
    assert issubclass(SecretBoxError, ValueError)


@pytest.mark.parametrize(
    ("current", "previous"), [("short", []), (NEW_KEY, ["x" * 31])]
)
def test_short_keys_are_refused(current: str, previous: list[str]) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        SecretBox(current, previous)


def test_repr_hides_the_keys() -> None:
    text = repr(SecretBox(NEW_KEY, [OLD_KEY]))

    assert NEW_KEY not in text
    assert OLD_KEY not in text
