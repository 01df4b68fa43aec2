"""How a job says what went wrong, and so what happens next.

    JobError
     ├── TransientJobError   try again later, with backoff, up to the job's limit
     └── PermanentJobError   never try again: the row is kept as dead

Handlers raise these (or let an integration's error that maps onto them
escape). Anything else a handler raises is a bug or an outage we did not
foresee: it is retried like a transient error, so a fixed bug or a recovered
dependency lets the work finish, and it ends as dead when the tries run out.
"""

from __future__ import annotations


class JobError(Exception):
    """Root of the errors a job handler raises on purpose."""


class TransientJobError(JobError):
    """The work may succeed if tried again later (timeout, 5xx, 429)."""

    def __init__(self, message: str, *, retry_after_seconds: float | None = None):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class PermanentJobError(JobError):
    """The work can never succeed as asked (a provider's 4xx, a vanished row)."""
