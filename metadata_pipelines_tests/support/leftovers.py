"""What a sync step could leave running in the test process after it ended."""

from __future__ import annotations

import threading

from metadata_pipelines.orchestration.liveness import LEASE_THREAD_PREFIX


def lease_threads() -> list[str]:
    """The threads still renewing a connector run's lease."""
    return [t.name for t in threading.enumerate() if t.name.startswith(LEASE_THREAD_PREFIX)]
