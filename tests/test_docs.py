"""The operator documents agree with the code they describe."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from asset_anchor.cli import build_parser
from asset_anchor.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENT = (ROOT / "docs" / "ENVIRONMENT.md").read_text()
RUNBOOK = (ROOT / "docs" / "RUNBOOK.md").read_text()
RENDER = (ROOT / "render.yaml").read_text()

# Read by the process or its tooling, outside the Settings class.
OUTSIDE_SETTINGS = {"WEB_CONCURRENCY"}


def setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def documented_variables() -> set[str]:
    """Variables that head a row of one of ENVIRONMENT.md's tables."""
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", ENVIRONMENT, re.MULTILINE))


def render_variables() -> set[str]:
    return set(re.findall(r"^\s+- key: ([A-Z][A-Z0-9_]+)\s*$", RENDER, re.MULTILINE))


def runbook_commands() -> list[str]:
    """Every ``asset-anchor …`` line inside the runbook's shell blocks."""
    blocks = re.findall(r"```sh\n(.*?)```", RUNBOOK, re.DOTALL)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("asset-anchor ")]


def test_every_setting_is_documented() -> None:
    missing = setting_names() - documented_variables()
    assert not missing, f"add to docs/ENVIRONMENT.md: {sorted(missing)}"


def test_every_documented_variable_exists() -> None:
    known = setting_names() | OUTSIDE_SETTINGS | {"TEST_DATABASE_URL"}
    known |= {"TEST_REDIS_URL", "PYTHON"}
    unknown = documented_variables() - known
    assert not unknown, f"documented but read by nothing: {sorted(unknown)}"


def test_render_sets_only_variables_the_service_reads() -> None:
    unknown = render_variables() - setting_names() - OUTSIDE_SETTINGS
    assert not unknown, f"render.yaml sets unknown variables: {sorted(unknown)}"


def test_render_defaults_are_valid_settings() -> None:
    """Every literal value in render.yaml passes the settings' validation."""
    pairs = re.findall(
        r"^\s+- key: ([A-Z][A-Z0-9_]+)\n\s+value: (.+)$", RENDER, re.MULTILINE
    )
    values = {
        key.lower(): value.strip().strip('"')
        for key, value in pairs
        if key not in OUTSIDE_SETTINGS
    }
    assert "job_max_tries" in values
    settings = Settings.model_validate(values)
    assert settings.environment == "production"


def test_runbook_has_commands_to_check() -> None:
    commands = runbook_commands()
    assert "asset-anchor jobs retry --all-dead" in [
        command.split("#")[0].strip() for command in commands
    ]


@pytest.mark.parametrize("line", runbook_commands())
def test_runbook_commands_parse(line: str) -> None:
    """The CLI accepts each command exactly as the runbook spells it."""
    argv = shlex.split(line.split(" #")[0])[1:]
    args = build_parser().parse_args(argv)
    assert callable(args.handler)
