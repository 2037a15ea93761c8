"""How services hand work to the worker, without knowing the broker.

The database is the record of what must be done (an item's status, the index outbox); a JobQueue
only says "look now". When the broker is down, enqueueing returns False and the sweeper
(worker.tasks.sweep) picks the work up once the broker is back.
"""

from __future__ import annotations

from typing import Protocol


class JobQueue(Protocol):
    def enqueue_item(self, item_id: int) -> bool:
        """Ask the worker to process an item; False when the broker could not be reached."""

    def enqueue_index(self) -> bool:
        """Ask the worker to apply pending index updates; False when the broker could not be reached."""

    def enqueue_import(self, job_id: int) -> bool:
        """Ask the worker to run a queued import job; False when the broker could not be reached."""


class NoJobQueue:
    """A queue that never delivers: for commands (import, restore) that let the sweeper do the work."""

    def enqueue_item(self, item_id: int) -> bool:
        return False

    def enqueue_index(self) -> bool:
        return False

    def enqueue_import(self, job_id: int) -> bool:
        return False
