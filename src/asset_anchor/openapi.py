"""Write the OpenAPI document the front end's client is generated from.

python -m asset_anchor.openapi docs/openapi.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from asset_anchor.app import create_app
from asset_anchor.settings import Settings


def build_document() -> dict[str, Any]:
    """The document as served, independent of the environment it runs in."""
    settings = Settings(
        environment="test",
        database_url="postgresql://unused@localhost/unused",
        redis_url="redis://localhost:6379/0",
    )
    return create_app(settings).openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[1] if len(argv) > 1 else "docs/openapi.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(build_document()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
