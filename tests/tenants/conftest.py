"""Fixtures of the tenant portal tests: those of the lease tests."""

from tests.leases.conftest import owner, unit  # noqa: F401
