"""The runbook's commands, run as an operator runs them.

``export DATABASE_URL="postgres://user:password@host:port/database"`` followed
by ``make db-upgrade`` / ``make db-downgrade`` / ``make db-current``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from asset_anchor import migrations
from tests.support.servers import create_database, drop_database, run_in_thread
from tests.test_migrations import revisions_in_order, tables_of

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def operator_database(postgres_server_url: str) -> Iterator[str]:
    """A fresh database, named by a ``postgres://`` URL as hosting platforms give."""
    name = f"aa_operator_{secrets.token_hex(4)}"
    url = run_in_thread(create_database(postgres_server_url, name))
    try:
        yield (
            make_url(url)
            .set(drivername="postgres")
            .render_as_string(hide_password=False)
        )
    finally:
        run_in_thread(drop_database(postgres_server_url, name))


def make(target: str, database_url: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("ENVIRONMENT", None)
    result = subprocess.run(  # noqa: S603 - fixed command, our own Makefile
        ["make", "--no-print-directory", target],  # noqa: S607
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


class TestDatabaseMakeTargets:
    def test_upgrade_current_and_downgrade_as_the_runbook_shows(
        self, operator_database: str
    ) -> None:
        head = migrations.current_head()
        revisions = revisions_in_order()
        previous = revisions[-2] if len(revisions) > 1 else None

        make("db-upgrade", operator_database)
        upgraded = run_in_thread(tables_of(operator_database))
        current = make("db-current", operator_database)
        make("db-downgrade", operator_database)
        after_downgrade = run_in_thread(migrations.database_revision(operator_database))

        assert "idempotency_keys" in upgraded
        assert f"{head} (head)" in current
        assert after_downgrade == previous
