"""The OpenAPI document is the front end's contract: reviewed, never drifting."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from asset_anchor.openapi import build_document, render

COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
METHODS = {"get", "put", "post", "patch", "delete"}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def expected_tag(path: str) -> str:
    segments = path.removeprefix("/api/v1").strip("/").split("/")
    return segments[0]


class TestOpenApiDocument:
    def test_committed_document_matches_the_code(self) -> None:
        served = render(build_document())

        assert COMMITTED.read_text() == served, (
            "docs/openapi.json is out of date: run `make openapi` and review the diff"
        )

    def test_operation_ids_are_unique_and_named_tag_action(self) -> None:
        document = build_document()

        ids = [operation["operationId"] for _, _, operation in operations(document)]

        assert len(ids) == len(set(ids))
        for path, _, operation in operations(document):
            tag = expected_tag(path)
            assert operation["tags"] == [tag], path
            assert re.fullmatch(rf"{tag}_[a-z][a-z_]*", operation["operationId"]), path

    def test_every_operation_is_described(self) -> None:
        document = build_document()

        for path, method, operation in operations(document):
            assert operation.get("description"), f"{method} {path} has no docstring"
            assert operation.get("summary"), f"{method} {path} has no summary"
            success = [code for code in operation["responses"] if code.startswith("2")]
            assert success, f"{method} {path} declares no success response"

    def test_document_is_valid_json_with_version(self) -> None:
        document = json.loads(COMMITTED.read_text())

        assert document["openapi"].startswith("3.")
        assert document["info"]["title"] == "Asset Anchor API"
