"""lectern reindex (app.services.indexing.reindex_all) on both search backends, and the batches
pending index updates go in (apply_pending)."""

from __future__ import annotations

import httpx
import pytest

from app.models import Item
from app.repo import index_queue as index_repo
from app.search.embedded import EmbeddedBackend
from app.search.meili import MeiliBackend
from app.search.query import parse_query
from app.services.indexing import apply_pending, reindex_all
from tests.fixtures.meili import unique_index_name


def _items(factory, n: int) -> list[int]:
    with factory() as session:
        items = [Item(kind="post", title=f"note {i} on reindexing", url=f"https://e.org/{i}",
                      canonical_url=f"https://e.org/{i}", authors=[], extra={}) for i in range(n)]
        session.add_all(items)
        session.commit()
        return [i.id for i in items]


@pytest.fixture(params=["embedded", "meilisearch"])
def backend(request, tmp_path):
    if request.param == "embedded":
        b = EmbeddedBackend(tmp_path / "search.db")
    else:
        server = request.getfixturevalue("meili_server")
        b = MeiliBackend(server.url, server.key, unique_index_name("reindex"))
    yield b
    b.close()


@pytest.mark.parametrize("db_settings", ["sqlite"], indirect=True)
def test_reindex_indexes_every_item_in_batches_of_the_backends_size(db_factory, backend) -> None:
    ids = _items(db_factory, 2 * backend.batch_size + 7)
    seen: list[int] = []
    assert reindex_all(db_factory, backend, progress=lambda done, total: seen.append(done)) == len(ids)
    assert seen == [backend.batch_size, 2 * backend.batch_size, len(ids)]
    assert backend.indexed_ids() == set(ids)
    hits = backend.search(parse_query("reindexing")).hits
    assert hits and {h.item_id for h in hits} <= set(ids)


def _additions(server, backend: MeiliBackend) -> list[dict]:
    return httpx.get(
        f"{server.url}/tasks",
        params={"indexUids": backend.index_name, "types": "documentAdditionOrUpdate", "limit": 100},
        headers={"Authorization": f"Bearer {server.key}"},
    ).json()["results"]


def test_meilisearch_reindex_sends_few_large_additions(db_factory, meili_server) -> None:
    """Meilisearch pays a fixed cost per batch: 2,500 items go in 3 additions, not 13 of 200."""
    backend = MeiliBackend(meili_server.url, meili_server.key, unique_index_name("reindex"))
    try:
        ids = _items(db_factory, 2500)
        assert reindex_all(db_factory, backend) == 2500
        tasks = _additions(meili_server, backend)
        assert sorted(t["details"]["receivedDocuments"] for t in tasks) == [500, 1000, 1000]
        assert all(t["status"] == "succeeded" for t in tasks)
        assert backend.indexed_ids() == set(ids)
    finally:
        backend.close()


def test_pending_updates_reach_meilisearch_in_batches_of_its_size(db_factory, meili_server) -> None:
    """The outbox (2,500 items queued, as after a rebuild) is pushed in additions of 1000, not of
    100 as before, and emptied."""
    backend = MeiliBackend(meili_server.url, meili_server.key, unique_index_name("pending"))
    try:
        backend.setup()
        ids = _items(db_factory, 2500)
        with db_factory() as session:
            index_repo.mark_for_index(session, ids)
            session.commit()
        assert apply_pending(db_factory, backend).upserted == 2500
        tasks = _additions(meili_server, backend)
        assert sorted(t["details"]["receivedDocuments"] for t in tasks) == [500, 1000, 1000]
        with db_factory() as session:
            assert index_repo.count_pending(session) == 0
        assert backend.indexed_ids() == set(ids)
    finally:
        backend.close()
