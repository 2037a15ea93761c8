"""Item queries against SQLite and PostgreSQL: dedupe lookups, leases, the sweeper's query."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from app.models import Item, ItemStatus, utcnow
from app.repo import items as items_repo
from app.repo import tags as tags_repo
from app.repo.items import ItemListFilter
from tests.fixtures.sql import recorded_statements


def _item(n: int, **kw) -> Item:
    return Item(url=f"https://example.org/{n}", canonical_url=f"https://example.org/{n}", authors=[], extra={}, **kw)


def test_canonical_url_and_external_ids_are_unique(db_factory):
    with db_factory() as s:
        items_repo.add_item(s, _item(1, arxiv_id="2502.09992"))
        s.commit()
    for dup in (_item(1), _item(2, arxiv_id="2502.09992")):
        with db_factory() as s, pytest.raises(IntegrityError):
            items_repo.add_item(s, dup)
    with db_factory() as s:  # several items without ids are fine (NULLs do not collide)
        items_repo.add_item(s, _item(3))
        items_repo.add_item(s, _item(4))
        s.commit()
        assert items_repo.find_existing_item(s, canonical_url="x", arxiv_id="2502.09992").id == 1


def test_an_identity_finds_its_item_by_url_arxiv_id_or_doi_each_alone_or_together(db_factory):
    """The look-up every save makes first, in each of its four shapes (its statements are built
    once per shape, with the values bound at each call)."""
    with db_factory() as s:
        by_url = items_repo.add_item(s, _item(1)).id
        by_arxiv = items_repo.add_item(s, _item(2, arxiv_id="2502.09992")).id
        by_doi = items_repo.add_item(s, _item(3, doi="10.1000/xyz")).id
        s.commit()
    def found(**identity):
        with db_factory() as s:
            item = items_repo.find_existing_item(s, **{"canonical_url": "https://example.org/none", **identity})
            return None if item is None else item.id

    assert found(canonical_url="https://example.org/1") == by_url
    assert found(arxiv_id="2502.09992") == by_arxiv
    assert found(doi="10.1000/xyz") == by_doi
    assert found(arxiv_id="2502.09992", doi="10.1000/xyz") == min(by_arxiv, by_doi)
    assert found(canonical_url="https://example.org/3", arxiv_id="2502.00000") == by_doi
    assert found() is None
    assert found(arxiv_id="2502.00000", doi="10.1000/other") is None


def test_only_one_worker_can_claim_an_item(db_factory):
    with db_factory() as s:
        item_id = items_repo.add_item(s, _item(1)).id
        s.commit()
    lease = timedelta(seconds=30)
    with db_factory() as s:
        first = items_repo.claim_item(s, item_id, "worker-a", lease)
        s.commit()
    with db_factory() as s:
        second = items_repo.claim_item(s, item_id, "worker-b", lease)
        s.commit()
    assert first == 1
    assert second is None
    with db_factory() as s:
        assert items_repo.get_item(s, item_id).lease_owner == "worker-a"


def test_expired_lease_lets_another_worker_claim_and_counts_the_attempt(db_factory):
    with db_factory() as s:
        item = items_repo.add_item(s, _item(1, status=ItemStatus.extracting))
        item.lease_owner, item.lease_until, item.attempts = "dead", utcnow() - timedelta(seconds=1), 1
        s.commit()
        item_id = item.id
    with db_factory() as s:
        claimed = items_repo.claim_item(s, item_id, "worker-b", timedelta(seconds=30))
        s.commit()
    assert claimed == 2
    with db_factory() as s:
        item = items_repo.get_item(s, item_id)
        assert item.attempts == 2 and item.lease_owner == "worker-b"


def test_ready_items_are_never_claimed_again(db_factory):
    with db_factory() as s:
        item_id = items_repo.add_item(s, _item(1, status=ItemStatus.ready)).id
        s.commit()
        assert items_repo.claim_item(s, item_id, "w", timedelta(seconds=5)) is None


def test_sweeper_finds_lost_jobs_and_leaves_live_ones(db_factory):
    now = utcnow()
    with db_factory() as s:
        never_sent = items_repo.add_item(s, _item(1, status=ItemStatus.queued))
        sent_now = items_repo.add_item(s, _item(2, status=ItemStatus.queued, enqueued_at=now))
        sent_long_ago = items_repo.add_item(s, _item(3, status=ItemStatus.queued, enqueued_at=now - timedelta(hours=1)))
        dead = items_repo.add_item(s, _item(4, status=ItemStatus.fetching, enqueued_at=now - timedelta(minutes=2),
                                             lease_owner="dead", lease_until=now - timedelta(seconds=5)))
        alive = items_repo.add_item(s, _item(5, status=ItemStatus.extracting, enqueued_at=now - timedelta(minutes=2),
                                              lease_owner="w", lease_until=now + timedelta(seconds=30)))
        dead_requeued = items_repo.add_item(s, _item(6, status=ItemStatus.fetching, enqueued_at=now,
                                                      lease_owner="dead", lease_until=now - timedelta(seconds=5)))
        items_repo.add_item(s, _item(7, status=ItemStatus.ready))
        # Re-enqueued after its worker died, and that job was lost too (the worker died again
        # before claiming it): found once the re-enqueue is older than requeue_after.
        dead_twice = items_repo.add_item(s, _item(8, status=ItemStatus.fetching, enqueued_at=now - timedelta(hours=1),
                                                   lease_owner="dead", lease_until=now - timedelta(hours=2)))
        s.commit()
        found = items_repo.items_needing_a_job(s, requeue_after=timedelta(minutes=5))
    assert set(found) == {never_sent.id, sent_long_ago.id, dead.id, dead_twice.id}
    assert sent_now.id not in found and alive.id not in found and dead_requeued.id not in found


def test_tag_filter_matches_children_and_is_case_insensitive(db_factory):
    with db_factory() as s:
        a, b, c = (items_repo.add_item(s, _item(n)) for n in (1, 2, 3))
        tags_repo.add_tags_to_item(s, a.id, tags_repo.get_or_create_tags(s, ["ML/Diffusion"]))
        tags_repo.add_tags_to_item(s, b.id, tags_repo.get_or_create_tags(s, ["ml"]))
        tags_repo.add_tags_to_item(s, c.id, tags_repo.get_or_create_tags(s, ["mlops"]))
        s.commit()
        ids = {i.id for i in items_repo.list_items(s, ItemListFilter(tag="ML"))}
        assert ids == {a.id, b.id}
        assert len(tags_repo.get_or_create_tags(s, ["ml/diffusion", " ML / Diffusion "])) == 1


def test_item_rows_read_what_a_result_list_shows_as_the_orm_does(db_factory):
    """The search results' plain rows carry the same fields and tag order as the ORM items."""
    with db_factory() as s:
        a = _item(1, kind="paper", title="Score SDE")
        a.authors = ["Yang Song", "Stefano Ermon"]
        a = items_repo.add_item(s, a)
        b = items_repo.add_item(s, _item(2, kind="tweet", title=""))
        gone = items_repo.add_item(s, _item(3, title="in the trash", trashed_at=utcnow()))
        tags_repo.add_tags_to_item(s, a.id, tags_repo.get_or_create_tags(s, ["zeta", "Alpha", "ml/diffusion"]))
        s.commit()
        ids = [a.id, b.id, gone.id, 999]
        rows = items_repo.item_rows(s, ids)
        full = items_repo.get_items_by_ids(s, ids)
    assert set(rows) == set(full) == {a.id, b.id}
    for item_id, row in rows.items():
        item = full[item_id]
        assert (row.kind, row.title, row.url, row.authors) == (item.kind, item.title, item.url, item.authors)
        assert [(t.id, t.name) for t in row.tags] == [(t.id, t.name) for t in item.tags]
    assert [t.name for t in rows[a.id].tags] == sorted(["zeta", "Alpha", "ml/diffusion"])


def test_tag_filter_probes_only_a_tag_common_enough_for_the_page_asked():
    """Walking the sort index finds a page of a tag's items after about need × among / matching
    items; reading them all costs about matching. Probe when the first is no dearer."""
    assert items_repo.tag_filter_probes(matching=1831, among=9897, need=50)  # a common tag, page 1
    assert not items_repo.tag_filter_probes(matching=100, among=9897, need=50)  # a rare tag
    assert not items_repo.tag_filter_probes(matching=1831, among=9897, need=1000)  # page 20 of it
    assert items_repo.tag_filter_probes(matching=100, among=200, need=50)  # exactly even: probe
    assert not items_repo.tag_filter_probes(matching=0, among=9897, need=50)


def test_library_rows_answer_what_list_items_does_with_either_tag_plan(db_factory):
    """Probing each item for its tag (EXISTS, for a walk of the sort index) and reading all the
    tag's items (IN) find the same page as list_items, with the same fields, file and tags."""
    from app.models import File

    base = utcnow() - timedelta(days=10)
    with db_factory() as s:
        pdf = File(sha256="ab" * 32, size=10)
        s.add(pdf)
        s.flush()
        for n in range(24):
            item = _item(n, kind=("paper", "tweet", "post")[n % 3], title=f"t{n % 7}", site="ex.org",
                         saved_at=base + timedelta(hours=n // 2),  # pairs share saved_at: id breaks ties
                         read_state=("unread", "read")[n % 2], starred=n % 5 == 0,
                         read_at=base + timedelta(hours=n) if n % 2 else None,
                         trashed_at=utcnow() if n % 11 == 0 else None, file_id=pdf.id if n % 4 == 0 else None)
            item.authors, item.extra = [f"Author {n}"], {"handle": f"h{n}"} if n % 3 == 1 else {}
            item = items_repo.add_item(s, item)
            names = ["ML/RL"] if n % 2 else ["ml", "zeta"] if n % 3 else ["other"]
            tags_repo.add_tags_to_item(s, item.id, tags_repo.get_or_create_tags(s, names))
        s.commit()

        checked = 0
        with recorded_statements(s.get_bind()) as statements:
            for tag in ("ml", "zeta", "missing", None):
                for sort in items_repo.SORTS:
                    for trashed, kind in ((False, None), (False, "paper"), (True, None)):
                        for offset, limit in ((0, 5), (5, 5), (0, 50)):
                            flt = ItemListFilter(tag=tag, sort=sort, trashed=trashed, kind=kind, offset=offset,
                                                 limit=limit)
                            want = items_repo.list_items(s, flt)
                            for probe in (False, True):
                                statements.clear()
                                matching, among = (10**6, 1) if probe else (1, 10**6)
                                got = items_repo.library_rows(s, flt, matching=matching, among=among)
                                walked = probe and tag is not None and sort in items_repo.WALKED_SORTS
                                assert ("EXISTS" in statements[0]) == walked, statements[0]
                                assert [r.id for r in got] == [i.id for i in want], (flt, probe)
                                for row, item in zip(got, want, strict=True):
                                    assert (row.kind, row.title, row.url, row.authors, row.extra, row.site, row.saved_at,
                                            row.read_state, row.starred, row.status) == (
                                        item.kind, item.title, item.url, item.authors, item.extra, item.site,
                                        item.saved_at, item.read_state, item.starred, item.status)
                                    assert (row.file and row.file.sha256) == (item.file and item.file.sha256)
                                    assert [(t.id, t.name) for t in row.tags] == [(t.id, t.name) for t in item.tags]
                                checked += len(got)
    assert checked > 200


@pytest.mark.parametrize("spread", [True, False])
def test_a_tag_walk_is_bounded_and_falls_back_when_the_tag_is_not_spread(db_factory, spread):
    """A common tag walks the sort index, but only so far (WALK_SLACK times what the estimate
    says): when its items are all old (a big untagged import since), the page comes from reading
    the tag's items, and it is the same page."""
    base = utcnow() - timedelta(days=30)
    with db_factory() as s:
        ml = tags_repo.get_or_create_tags(s, ["ml"])
        for n in range(230):
            item = items_repo.add_item(s, _item(n, saved_at=base + timedelta(minutes=n)))
            if (n % 7 == 0) if spread else (n < 32):  # 33 spread over time, or the 32 oldest
                tags_repo.add_tags_to_item(s, item.id, ml)
        s.commit()
        with recorded_statements(s.get_bind()) as statements:
            for sort in ("saved_desc", "saved_asc"):
                for offset in (0, 2):
                    flt = ItemListFilter(tag="ml", sort=sort, limit=2, offset=offset)
                    want = [i.id for i in items_repo.list_items(s, flt)]
                    matching = items_repo.count_items(s, flt)
                    assert items_repo.tag_filter_probes(matching, 230, flt.offset + flt.limit)
                    statements.clear()
                    got = [r.id for r in items_repo.library_rows(s, flt, matching=matching, among=230)]
                    assert got == want and len(got) == 2
                    walked = [st for st in statements if "walk" in st]
                    read_all = [st for st in statements if "walk" not in st and "FROM items" in st]
                    assert len(walked) == 1 and "EXISTS" in walked[0]
                    # The oldest-first walk finds the old tagged items at once; newest first passes
                    # 200 untagged ones: past the bound, so the tag's items are read instead.
                    assert len(read_all) == (1 if not spread and sort == "saved_desc" else 0), (sort, offset)
