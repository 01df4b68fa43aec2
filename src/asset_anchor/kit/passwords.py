"""Password hashing (argon2id) and the strength rule for new passwords.

Hashing and verifying are deliberately slow (tens of milliseconds), so both run
in a worker thread: a burst of logins must never stall the event loop that
serves every other request.

The parameters follow the OWASP minimum for argon2id (19 MiB, two passes, one
lane). Raising them later is safe: ``needs_rehash`` tells the login flow to
store a fresh hash the next time the user proves the password.
"""

import asyncio
import re
import threading
from collections.abc import Iterator, Sequence
from functools import cache
from secrets import token_urlsafe
from typing import Any

import zxcvbn
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 128

TIME_COST = 2
MEMORY_COST_KIB = 19456  # 19 MiB
PARALLELISM = 1
HASH_LENGTH = 32
SALT_LENGTH = 16

# zxcvbn refuses longer input; the tail of a longer password only adds strength.
_ZXCVBN_MAX_LENGTH = 72
# zxcvbn scores 0 to 4; 3 means "safely unguessable" (about 10^8 guesses or more).
_MIN_SCORE = 3
# A shorter piece of a name or email ("jo", "uk") would match inside many good
# passwords and lower their score for no reason.
_MIN_USER_INPUT_LENGTH = 3

_TOO_EASY = "This password is too easy to guess."
_TOO_PERSONAL = "This password is too close to your name or email address."

_hasher = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_COST_KIB,
    parallelism=PARALLELISM,
    hash_len=HASH_LENGTH,
    salt_len=SALT_LENGTH,
    type=Type.ID,
)

# zxcvbn keeps the user inputs in a module-level dictionary that each call
# overwrites, so two concurrent calls (from threads) could see each other's.
_zxcvbn_lock = threading.Lock()


async def hash_password(password: str) -> str:
    """Hash a password for storage, off the event loop."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(hash: str, password: str) -> bool:
    """Whether ``password`` matches ``hash``, off the event loop.

    A corrupt or foreign hash is reported as a mismatch rather than raised: the
    caller answers "wrong credentials" either way, and must not leak which.
    """
    return await asyncio.to_thread(_verify, hash, password)


def needs_rehash(hash: str) -> bool:
    """Whether a stored hash was made with other parameters than ours.

    An unparsable hash also counts: it is not one we would make today.
    """
    try:
        return _hasher.check_needs_rehash(hash)
    except InvalidHashError:
        return True


async def burn_verify_time(password: str) -> None:
    """Spend the time of one verification, for a login with an unknown email.

    Without it, "no such user" answers in microseconds and "wrong password" in
    tens of milliseconds, and the difference tells an attacker which emails have
    accounts. The dummy hash uses our parameters, so the cost is the same; it is
    made on first use (so the first call costs one extra hash) and then reused.
    """
    await asyncio.to_thread(_verify, _dummy_hash(), password)


def password_problem(password: str, *, user_inputs: Sequence[str] = ()) -> str | None:
    """Why ``password`` is not acceptable as a new password, or None if it is.

    The answer is a sentence meant for the user, chosen from a fixed set (ours
    and zxcvbn's warnings), so it never quotes the password.
    There are no composition rules (a digit, a symbol...): they push people to
    predictable patterns such as ``Password1!``. Instead a length range and a
    guessability estimate by zxcvbn, which knows common passwords, names, words,
    keyboard walks, dates and repeats.

    ``user_inputs`` are the user's own name and email address; they are split
    into their parts so that ``jordanriley2024`` is refused for Jordan Riley.

    Breach corpora (such as Have I Been Pwned) cannot be fetched on our build
    machines, so the check relies on zxcvbn's built-in frequency lists only.

    It blocks: up to about half a second of CPU for a long password. Async
    code calls it in a thread (``asyncio.to_thread``), never on the loop.
    """
    if len(password) < MIN_LENGTH:
        return f"The password must be at least {MIN_LENGTH} characters long."
    if len(password) > MAX_LENGTH:
        return f"The password must be at most {MAX_LENGTH} characters long."
    inputs = sorted(set(_personal_words(user_inputs)))
    with _zxcvbn_lock:
        result: dict[str, Any] = zxcvbn.zxcvbn(
            password[:_ZXCVBN_MAX_LENGTH], user_inputs=inputs
        )
    if result["score"] >= _MIN_SCORE:
        return None
    # zxcvbn's warnings are fixed sentences, never built from the password.
    warning = str(result["feedback"].get("warning") or "").strip()
    if warning:
        return warning
    if any(
        match.get("dictionary_name") == "user_inputs" for match in result["sequence"]
    ):
        return _TOO_PERSONAL
    return _TOO_EASY


def _verify(hash: str, password: str) -> bool:
    """The blocking verification, with argon2's failures turned into False."""
    try:
        return _hasher.verify(hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    """A hash with our parameters of a random secret that no password matches."""
    return _hasher.hash(token_urlsafe(32))


def _personal_words(user_inputs: Sequence[str]) -> Iterator[str]:
    """Each input, plus the parts a person would reuse in a password.

    A name gives its words and the words run together in both orders; an email
    gives its local part, domain, and the pieces of each (``jordan.riley``,
    ``example``).
    """
    for raw in user_inputs:
        value = raw.strip().lower()
        yield from _long_enough([value])
        if "@" in value:
            local, _, domain = value.rpartition("@")
            yield from _long_enough([local, domain])
            yield from _long_enough(re.split(r"[._+\-]+", local))
            yield from _long_enough(domain.split(".")[:-1])
        else:
            words = value.split()
            yield from _long_enough(words)
            yield from _long_enough(["".join(words), "".join(reversed(words))])


def _long_enough(parts: Sequence[str]) -> Iterator[str]:
    """The parts long enough to be worth matching."""
    return (part for part in parts if len(part) >= _MIN_USER_INPUT_LENGTH)
