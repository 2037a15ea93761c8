"""The index outbox on SQLite and PostgreSQL: marks merge, in one statement, even when two
transactions mark one item at the same moment."""

from __future__ import annotations

import threading

from app.models import IndexPending
from app.repo import index_queue as index_repo
from tests.fixtures.sql import recorded_statements


def _rows(factory) -> dict[int, tuple[str, int]]:
    with factory() as s:
        return {r.item_id: (r.op, r.attempts) for r in s.query(IndexPending)}


def test_a_second_mark_changes_the_op_and_keeps_the_attempts(db_factory):
    with db_factory() as s:
        index_repo.mark_for_index(s, [1, 2, 2])
        s.commit()
        row = s.get(IndexPending, 2)
        row.attempts = 2
        s.commit()
        first_queued = row.queued_at
        index_repo.mark_for_index(s, [2, 3], op="delete")
        assert (row.op, row.attempts) == ("delete", 2)  # the loaded row is not stale
        assert row.queued_at >= first_queued
        s.commit()
    assert _rows(db_factory) == {1: ("upsert", 0), 2: ("delete", 2), 3: ("delete", 0)}


def test_marking_thousands_of_items_at_once(db_factory):
    with db_factory() as s:
        index_repo.mark_for_index(s, range(1, 5001))
        s.commit()
        assert s.query(IndexPending).count() == 5000


def test_two_transactions_marking_one_item_at_once_both_commit(db_factory):
    """The first holds its new row uncommitted while the second marks the same item; once the first
    commits, the second's mark merges into it instead of failing on the primary key."""
    first = db_factory()
    index_repo.mark_for_index(first, [7])
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with db_factory() as s:
                index_repo.mark_for_index(s, [7], op="delete")
                s.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=0.5)  # it waits for the first transaction
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert not thread.is_alive() and not errors, errors
    assert _rows(db_factory) == {7: ("delete", 0)}


def test_clearing_a_batch_is_one_statement_and_keeps_rows_marked_again_meanwhile(db_factory):
    with db_factory() as s:
        index_repo.mark_for_index(s, range(1, 501))
        s.commit()
    with db_factory() as s:
        rows = index_repo.pending_batch(s, limit=500)
        assert len(rows) == 500
        with db_factory() as other:  # item 7 changes again while the batch is being indexed
            index_repo.mark_for_index(other, [7], op="delete")
            other.commit()
        with recorded_statements(s.get_bind()) as statements:
            index_repo.clear_pending(s, rows)
        s.commit()
    assert [st.split()[0] for st in statements] == ["DELETE"]
    assert _rows(db_factory) == {7: ("delete", 0)}


def test_sweeper_batch_leaves_out_items_whose_job_will_index_them(db_factory):
    """With leave_jobs_sent_within, an upsert waits for the item's own job while that job is under
    way (a live lease, or sent to the broker moments ago); everything else is taken as before."""
    from datetime import timedelta

    from app.models import Item, ItemStatus, utcnow

    now = utcnow()
    states = {
        "working": dict(status=ItemStatus.extracting, lease_owner="w", lease_until=now + timedelta(seconds=60)),
        "just sent": dict(status=ItemStatus.queued, enqueued_at=now - timedelta(seconds=1)),
        "deleted while working": dict(status=ItemStatus.fetching, lease_owner="w",
                                      lease_until=now + timedelta(seconds=60)),
        "lease expired": dict(status=ItemStatus.fetching, lease_owner="w", lease_until=now - timedelta(seconds=1)),
        "sent long ago": dict(status=ItemStatus.queued, enqueued_at=now - timedelta(seconds=600)),
        "never sent": dict(status=ItemStatus.queued, enqueued_at=None),
        "retry later": dict(status=ItemStatus.queued, enqueued_at=now + timedelta(seconds=120)),
        "ready": dict(status=ItemStatus.ready),
        "failed": dict(status=ItemStatus.failed),
    }
    ids: dict[str, int] = {}
    with db_factory() as s:
        for n, (name, kw) in enumerate(states.items()):
            item = Item(url=f"https://example.org/{n}", canonical_url=f"https://example.org/{n}", authors=[],
                        extra={}, **kw)
            s.add(item)
            s.flush()
            ids[name] = item.id
        index_repo.mark_for_index(s, [i for name, i in ids.items() if name != "deleted while working"])
        index_repo.mark_for_index(s, [ids["deleted while working"]], op="delete")
        ids["purged"] = 10**6  # an item gone for good: apply_pending removes its entry
        index_repo.mark_for_index(s, [ids["purged"]])
        s.commit()
    with db_factory() as s:
        everything = {r.item_id for r in index_repo.pending_batch(s)}
        swept = {r.item_id for r in index_repo.pending_batch(s, leave_jobs_sent_within=timedelta(seconds=300))}
    assert everything == set(ids.values())
    assert {name for name, i in ids.items() if i not in swept} == {"working", "just sent"}
