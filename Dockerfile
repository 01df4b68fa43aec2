# The production image of Asset Anchor: one image for the API (the default
# command) and the worker (`asset-anchor worker`). Development tools and the
# embedded PostgreSQL/Redis are not installed.
#
#   docker build -t asset-anchor .
#   docker run --env-file prod.env -p 8000:8000 asset-anchor
#   docker run --env-file prod.env asset-anchor asset-anchor worker

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: resolve nothing, install exactly what uv.lock says ------------
FROM ${PYTHON_IMAGE} AS builder

# The same uv as the Makefile's UV_VERSION, installed from PyPI.
RUN pip install --no-cache-dir --disable-pip-version-check "uv==0.13.8"

# Use the image's Python (never download one), compile bytecode now so the
# read-only runtime never has to, and copy files out of uv's cache so the
# virtual environment stands on its own.
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-default-groups --no-editable --no-install-project

# Then the service itself, installed into .venv as a regular (non-editable)
# package, so the runtime image needs no source tree.
COPY src/ src/
RUN uv sync --frozen --no-default-groups --no-editable

# --- runtime ---------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app \
        --no-create-home --shell /usr/sbin/nologin app

WORKDIR /app

# Owned by root and read-only for the service user. The virtual environment
# keeps the path it was built at (/app/.venv), which its scripts refer to.
COPY --from=builder /app/.venv /app/.venv
# `asset-anchor migrate` finds alembic.ini in the working folder (/app).
COPY alembic.ini ./
COPY alembic/ alembic/

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENVIRONMENT=production

USER 10001:10001

# `asset-anchor serve` listens on $PORT (8000 unless the platform sets it).
EXPOSE 8000

# No HEALTHCHECK: the same image runs the worker, which serves no HTTP. The
# platform probes the API's /health/live; `asset-anchor worker --check` tells
# whether a worker is alive.

CMD ["asset-anchor", "serve"]
