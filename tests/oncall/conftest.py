"""The queue's real peers (database queue, SMTP sink) for the escalation tests."""
from tests.outbound.conftest import run_queue, smtp_sink, task_queue  # noqa: F401  (fixtures shared with outbound)
