"""Rendering our emails from Jinja2 templates.

Each kind of email is two files under ``templates/``, ``<kind>.txt`` and
``<kind>.html``, extending ``base.txt`` and ``base.html``. The subject is the
``subject`` block of the text template: it is rendered on its own, its
whitespace collapsed to single spaces, and handed to both bodies as
``subject`` (the HTML uses it as its title). A kind also fills ``body`` and
``reason`` (the end of "You are receiving this because ...").

Every template sees ``product_name``, ``recipient_name`` ("there" when we have
no name), ``frontend_url``, ``support_email``, ``subject``, the helper
``link(path, **query)`` for an absolute link into the front end, the filters
``utc_datetime`` (for people) and ``iso_datetime`` (for ``<time>``), and the
caller's context. A name that is not given is an
error (``StrictUndefined``), never an empty string in a sent email. The HTML is
autoescaped; the text is not, as nothing reads it as markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

from jinja2 import (
    Environment,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
)

from asset_anchor.kit.time import ensure_utc
from asset_anchor.settings import Settings

PRODUCT_NAME = "Asset Anchor"
_RESERVED = frozenset(
    {
        "product_name",
        "recipient_name",
        "frontend_url",
        "support_email",
        "subject",
        "link",
    }
)
_KIND = re.compile(r"[a-z][a-z0-9_-]{0,63}")


class UnknownEmailKind(ValueError):
    """No templates exist for the kind of email asked for."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text_body: str
    html_body: str


def render_email(
    kind: str,
    *,
    settings: Settings,
    recipient_name: str | None,
    context: dict[str, Any],
) -> RenderedEmail:
    """The subject and both bodies of one email of ``kind``."""
    clashes = _RESERVED & context.keys()
    if clashes:
        raise ValueError(f"context may not set {', '.join(sorted(clashes))}")
    text_template, html_template = _templates(kind)
    frontend_url = settings.frontend_url

    def link(path: str, **query: str | int) -> str:
        return build_link(frontend_url, path, **query)

    variables: dict[str, Any] = {
        **context,
        "product_name": PRODUCT_NAME,
        "recipient_name": (recipient_name or "").strip() or "there",
        "frontend_url": frontend_url,
        "support_email": settings.email_from,
        "link": link,
    }

    subject_block = text_template.blocks.get("subject")
    if subject_block is None:
        raise LookupError(f"{kind}.txt has no subject block")
    subject_text = "".join(subject_block(text_template.new_context(variables)))
    variables["subject"] = " ".join(subject_text.split())

    return RenderedEmail(
        subject=variables["subject"],
        text_body=text_template.render(variables),
        html_body=html_template.render(variables),
    )


def build_link(frontend_url: str, path: str, **query: str | int) -> str:
    """``{frontend_url}{path}?{query}``; the path must start with "/"."""
    if not path.startswith("/"):
        raise ValueError("a link path must start with '/'")
    url = f"{frontend_url.rstrip('/')}{path}"
    return f"{url}?{urlencode(query)}" if query else url


def _instant(value: datetime | str) -> datetime:
    """A datetime, or its ISO 8601 text as it comes back from a queued
    email's JSON context, as an aware UTC datetime."""
    return ensure_utc(
        datetime.fromisoformat(value) if isinstance(value, str) else value
    )


def iso_datetime(value: datetime | str) -> str:
    """An instant for machines (``<time datetime=…>``): ISO 8601 in UTC."""
    return _instant(value).isoformat()


def utc_datetime(value: datetime | str) -> str:
    """An instant as people read it: ``1 March 2025, 07:30 UTC``."""
    moment = _instant(value)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


def known_kind(kind: str) -> bool:
    """Whether both templates of ``kind`` exist."""
    try:
        _templates(kind)
    except UnknownEmailKind:
        return False
    return True


def _templates(kind: str) -> tuple[Template, Template]:
    if not _KIND.fullmatch(kind) or kind == "base":
        raise UnknownEmailKind(kind)
    try:
        return (
            _environment(html=False).get_template(f"{kind}.txt"),
            _environment(html=True).get_template(f"{kind}.html"),
        )
    except TemplateNotFound as exc:
        raise UnknownEmailKind(kind) from exc


@cache
def _environment(*, html: bool) -> Environment:
    environment = Environment(
        loader=PackageLoader("asset_anchor.email", "templates"),
        undefined=StrictUndefined,
        # The text env renders plain text: escaping would garble it.
        autoescape=html,  # noqa: S701
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["utc_datetime"] = utc_datetime
    environment.filters["iso_datetime"] = iso_datetime
    return environment
