"""Every job the outbox can run. Importing this module registers them all."""

from __future__ import annotations

from asset_anchor.jobs.registry import JobSpec, get_job, registered_jobs

# Modules whose import registers handlers with @job(...). Add a domain's
# tasks module here when it gains outbox jobs.
_TASK_MODULES: tuple[str, ...] = (
    "asset_anchor.email.tasks",
    "asset_anchor.accounts.tasks",
    "asset_anchor.payments.tasks",
)


def load() -> dict[str, JobSpec]:
    import importlib

    for module in _TASK_MODULES:
        importlib.import_module(module)
    return registered_jobs()


def job_spec(name: str) -> JobSpec | None:
    load()
    return get_job(name)
