"""Password hashing and the strength rule for new passwords."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from asset_anchor.kit import passwords
from asset_anchor.kit.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    burn_verify_time,
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)

STRONG = "velvet-orbit-canyon-mosaic-thimble"


class TestHashing:
    async def test_hash_verifies_with_the_same_password(self) -> None:
        stored = await hash_password(STRONG)

        assert stored != STRONG
        assert await verify_password(stored, STRONG) is True

    async def test_wrong_password_is_refused(self) -> None:
        stored = await hash_password(STRONG)

        assert await verify_password(stored, STRONG + "x") is False
        assert await verify_password(stored, "") is False

    @pytest.mark.parametrize(
        "corrupt",
        [
            "",
            "not a hash",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$bm90LWEtcmVhbC1oYXNo",
            "$2b$12$abcdefghijklmnopqrstuuQ0qEXAMPLEEXAMPLEEXAMPLEEXAMPL",
        ],
    )
    async def test_corrupt_hash_is_a_mismatch_not_an_error(self, corrupt: str) -> None:
        assert await verify_password(corrupt, STRONG) is False

    async def test_hash_uses_argon2id_with_our_parameters(self) -> None:
        stored = await hash_password(STRONG)

        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")

    async def test_each_hash_has_its_own_salt(self) -> None:
        first = await hash_password(STRONG)
        second = await hash_password(STRONG)

        assert first != second


class TestNeedsRehash:
    async def test_our_own_hash_needs_no_rehash(self) -> None:
        assert needs_rehash(await hash_password(STRONG)) is False

    def test_hash_with_other_parameters_needs_rehash(self) -> None:
        cheaper = PasswordHasher(
            time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID
        )
        old = cheaper.hash(STRONG)

        assert needs_rehash(old) is True

    def test_unparsable_hash_needs_rehash(self) -> None:
        assert needs_rehash("not a hash") is True


class TestBurnVerifyTime:
    async def test_runs_a_real_verification_against_one_reused_dummy_hash(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        checked: list[tuple[str, str]] = []
        real_verify = passwords._verify

        def recording_verify(hash: str, password: str) -> bool:
            checked.append((hash, password))
            return real_verify(hash, password)

        monkeypatch.setattr(passwords, "_verify", recording_verify)

        await burn_verify_time(STRONG)
        await burn_verify_time("another guess")

        dummy = passwords._dummy_hash()
        assert dummy is passwords._dummy_hash()
        assert checked == [(dummy, STRONG), (dummy, "another guess")]
        # Same parameters as real hashes, so it costs what a real check costs.
        assert dummy.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert needs_rehash(dummy) is False


class TestPasswordProblem:
    def test_too_short(self) -> None:
        problem = password_problem("Xk9#mQ2")

        assert problem is not None
        assert f"at least {MIN_LENGTH}" in problem

    def test_too_long(self) -> None:
        problem = password_problem("Xk9#mQ2v" * 16 + "L")  # 129 characters

        assert problem is not None
        assert f"at most {MAX_LENGTH}" in problem

    def test_exactly_max_length_is_judged_on_strength_not_length(self) -> None:
        strong = (STRONG + "-") * 3 + "Quokka-lantern-Fjord-73-ember-sprocket-x"
        long_enough = strong[:MAX_LENGTH]

        assert len(long_enough) == MAX_LENGTH
        assert password_problem(long_enough) is None

    @pytest.mark.parametrize("common", ["password123", "qwertyuiop"])
    def test_common_password_is_refused_with_zxcvbn_warning(self, common: str) -> None:
        problem = password_problem(common)

        assert problem is not None
        assert "common password" in problem

    def test_password_built_from_the_users_name_is_refused(self) -> None:
        assert password_problem("jordanriley2024") is None  # fine for a stranger

        problem = password_problem("jordanriley2024", user_inputs=["Jordan Riley"])

        assert problem == "This password is too close to your name or email address."

    def test_name_in_reverse_order_is_refused_too(self) -> None:
        assert password_problem("rileyjordan2024", user_inputs=["Jordan Riley"])

    def test_password_built_from_the_users_email_is_refused(self) -> None:
        inputs = ["Sam Ng", "jriley@lakeviewrentals.com"]

        assert password_problem("lakeviewrentals2024", user_inputs=inputs)
        assert password_problem("jriley2024!", user_inputs=inputs)

    def test_weak_without_warning_gets_the_generic_sentence(self) -> None:
        assert password_problem("Zq7!vR2#") == "This password is too easy to guess."

    def test_long_random_passphrase_is_accepted(self) -> None:
        assert password_problem(STRONG, user_inputs=["Jordan Riley"]) is None

    def test_strong_password_of_100_characters_is_accepted(self) -> None:
        # Only the first 72 characters go to zxcvbn, which refuses longer input.
        long_password = (
            "Tangerine lighthouses whisper to 47 sleepy otters beneath "
            "a violet quarry; nobody minds brass drums!"
        )

        assert len(long_password) == 100
        assert password_problem(long_password) is None

    @pytest.mark.parametrize(
        ("password", "user_inputs"),
        [
            ("short", ()),
            ("x" * (MAX_LENGTH + 1), ()),
            ("password123", ()),
            ("qwertyuiop", ()),
            ("aaaaaaaaaaaa", ()),
            ("abcdefgh1234", ()),
            ("jordanriley2024", ("Jordan Riley", "jordan.riley@example.com")),
            ("Zq7!vR2#", ()),
        ],
    )
    def test_message_never_contains_the_password(
        self, password: str, user_inputs: tuple[str, ...]
    ) -> None:
        problem = password_problem(password, user_inputs=user_inputs)

        assert problem is not None
        assert password.lower() not in problem.lower()
