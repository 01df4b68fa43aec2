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


# What a service of render.yaml is not given, and why. Both services load the
# whole Settings class, so everything else must be declared for each of them.
NOT_DECLARED: dict[str, dict[str, str]] = {
    "asset-anchor-api": {
        "PORT": "Render sets it on every web service and routes traffic to it",
    },
    "asset-anchor-worker": {
        "PORT": "the worker serves no HTTP",
        "WEB_CONCURRENCY": "uvicorn processes, read by `serve` only",
        "FORWARDED_ALLOW_IPS": "read by the API's proxy-header middleware only",
        "FORWARDED_HOPS": "read by the API's proxy-header middleware only",
        "CORS_ORIGINS": "only the API answers browsers",
        "POSTMARK_WEBHOOK_USERNAME": "the API receives Postmark's webhook",
        "POSTMARK_WEBHOOK_PASSWORD": "the API receives Postmark's webhook",
    },
}


def render_blocks() -> dict[str, str]:
    """The text of render.yaml's variable group (``group``) and of each service."""
    group, _, rest = RENDER.partition("\nservices:\n")
    services, _, _ = rest.partition("\ndatabases:\n")
    blocks = {"group": group}
    for block in re.split(r"^  - type: ", services, flags=re.MULTILINE)[1:]:
        name = re.search(r"^    name: (\S+)$", block, re.MULTILINE)
        assert name is not None, block[:80]
        blocks[name.group(1)] = block
    return blocks


def keys_in(text: str) -> set[str]:
    return set(re.findall(r"^\s+- key: ([A-Z][A-Z0-9_]+)\s*$", text, re.MULTILINE))


def declared_for(service: str) -> set[str]:
    """The variables a service gets: its own and its group's."""
    blocks = render_blocks()
    declared = keys_in(blocks[service])
    if "- fromGroup: asset-anchor-shared" in blocks[service]:
        declared |= keys_in(blocks["group"])
    return declared


@pytest.mark.parametrize("service", sorted(NOT_DECLARED))
def test_render_declares_every_setting_for_each_service(service: str) -> None:
    read = setting_names() | OUTSIDE_SETTINGS
    missing = read - declared_for(service) - set(NOT_DECLARED[service])
    assert not missing, f"declare in render.yaml for {service}: {sorted(missing)}"


@pytest.mark.parametrize("service", sorted(NOT_DECLARED))
def test_render_exemptions_are_current(service: str) -> None:
    exempt = set(NOT_DECLARED[service])
    assert exempt <= setting_names() | OUTSIDE_SETTINGS
    assert not exempt & declared_for(service), "declared after all: drop the exemption"


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
