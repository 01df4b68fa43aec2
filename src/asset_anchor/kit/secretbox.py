"""Encryption at rest for small secrets, with key rotation.

TOTP seeds, and the one-time tokens of emails waiting for the worker.

A database dump or backup alone must not yield anyone's second factor, so such
secrets are stored encrypted under a key that lives only in the settings.

Tokens are Fernet (AES-128-CBC with HMAC-SHA256, authenticated). Rotation: a
new key becomes the current one and the old keys move to the previous ones;
tokens made under an old key still open, ``needs_reencrypt`` spots them, and
``rotate`` re-encrypts them under the current key. Once none is left, the old
key can be dropped from the settings.
"""

import base64
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

MIN_KEY_LENGTH = 32

# Derivation: SHA-256 over a purpose label and the key string. The keys are
# random strings of at least 32 characters, not passwords, so a fast hash is
# enough (nothing to slow a guesser down for); the label separates this use
# from any other use of the same setting, and its version leaves room to
# change the derivation without ambiguity.
_DERIVATION_LABEL = b"asset-anchor secretbox v1\x00"


class SecretBoxError(ValueError):
    """A token that no configured key opens: unknown key, or altered."""


class SecretBox:
    """Encrypts with the current key, decrypts with the current or a previous one."""

    def __init__(
        self,
        current_key: str,
        previous_keys: Sequence[str] = (),
        *,
        purpose: str = "",
    ) -> None:
        """Derive one Fernet key per key string; refuse short ones.

        A key that is too short is a configuration mistake, raised now rather
        than at the first login. ``purpose`` separates uses of one setting: a
        token made for one purpose never opens under another.
        """
        for key in (current_key, *previous_keys):
            if len(key) < MIN_KEY_LENGTH:
                raise ValueError(
                    f"secretbox keys must be at least {MIN_KEY_LENGTH} characters"
                )
        self._current = _fernet(current_key, purpose)
        self._all = MultiFernet(
            [self._current, *(_fernet(key, purpose) for key in previous_keys)]
        )

    def __repr__(self) -> str:
        """Nothing about the keys, should the object end up in a log."""
        return "SecretBox(<keys hidden>)"

    def encrypt(self, plaintext: str) -> str:
        """Encrypt under the current key; each call gives a different token."""
        return self._all.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Open a token made under the current or any previous key."""
        try:
            return self._all.decrypt(token.encode("utf-8")).decode("utf-8")
        except (InvalidToken, UnicodeDecodeError) as error:
            raise SecretBoxError("no configured key opens this token") from error

    def needs_reencrypt(self, token: str) -> bool:
        """Whether the token opens only with a previous key, not the current one.

        Raises SecretBoxError when no key opens it, as ``decrypt`` does: such a
        token is not one re-encryption can fix.
        """
        try:
            self._current.decrypt(token.encode("utf-8"))
        except InvalidToken:
            self.decrypt(token)
            return True
        return False

    def rotate(self, token: str) -> str:
        """The same plaintext as a new token under the current key."""
        try:
            return self._all.rotate(token.encode("utf-8")).decode("ascii")
        except InvalidToken as error:
            raise SecretBoxError("no configured key opens this token") from error


def _fernet(key: str, purpose: str) -> Fernet:
    """The Fernet for one key string and purpose (see ``_DERIVATION_LABEL``).

    The empty purpose (TOTP seeds) derives as the label and key alone.
    """
    label = _DERIVATION_LABEL + (purpose.encode("utf-8") + b"\x00" if purpose else b"")
    digest = hashlib.sha256(label + key.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(digest))
