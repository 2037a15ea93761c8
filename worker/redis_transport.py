"""The production broker: kombu's Redis transport, with one Redis client per channel.

kombu's Redis channel makes a new ``redis.Redis`` for every command it sends outside its
consumer (each published message, each acknowledgement): the client it makes is only a handle
on the channel's connection pool, but building one fills a table of a few hundred response
callbacks, a quarter of the CPU time of publishing a task. This channel keeps the one it made,
for as long as the channel keeps that pool (kombu makes a new pool after a disconnect).
A ``redis.Redis`` takes a connection from its pool per command, so threads may share it.

Used for ``redis://`` broker URLs (make_celery names it in Celery's ``broker_transport``);
``rediss://`` and Sentinel keep kombu's own transport.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _kept_client = None

    @contextmanager
    def conn_or_acquire(self, client=None) -> Iterator:
        if client:
            yield client
            return
        pool = self.pool  # made again after _disconnect_pools dropped it
        kept = self._kept_client
        if kept is None or kept.connection_pool is not pool:
            kept = self._kept_client = self._create_client()
        yield kept


class Transport(kombu_redis.Transport):
    Channel = Channel
