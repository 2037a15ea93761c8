"""The JSON API core through the ASGI app: auth, create (URL, captured text, upload), errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import make_engine, make_session_factory
from app.models import Item
from app.repo.users import get_owner
from app.services.auth import create_api_token
from tests.fixtures.app import make_settings
from tests.fixtures.fakeweb import make_test_pdf
from tests.fixtures.sql import recorded_statements


@pytest.fixture
def api(db_settings, make_client) -> TestClient:
    client = make_client(db_settings)
    factory = make_session_factory(make_engine(db_settings))
    with factory() as session:
        token = create_api_token(session, get_owner(session), "tests").plaintext
        session.commit()
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_requests_without_a_valid_token_get_401_json(api):
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer lct_wrong"}, {"Authorization": "Basic abc"}):
        response = api.get("/api/v1/items/1", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_guessing_tokens_gets_429_with_retry_after_and_a_spoofed_forwarded_for_does_not_help(db_settings, make_client):
    settings = db_settings.model_copy(update={"login_max_failures": 3})
    client = make_client(settings)
    factory = make_session_factory(make_engine(settings))
    with factory() as session:
        token = create_api_token(session, get_owner(session), "tests").plaintext
        session.commit()
    good = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/ping", headers=good).status_code == 200
    for i in range(3):
        wrong = {"Authorization": f"Bearer lct_guess{i}", "X-Forwarded-For": f"203.0.113.{i}"}
        assert client.get("/api/v1/items/1", headers=wrong).status_code == 401
    refused = client.get("/api/v1/ping", headers={**good, "X-Forwarded-For": "198.51.100.7"})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert int(refused.headers["Retry-After"]) > 0


def test_a_save_with_a_wrong_token_is_401_saves_nothing_and_counts_toward_the_throttle(db_settings, make_client):
    """The token of a save is looked up in the save's own trip through the thread pool, before its
    JSON body is parsed and before an upload is read: a wrong token is 401 whatever the body, and
    is counted like any other."""
    settings = db_settings.model_copy(update={"login_max_failures": 4})
    client = make_client(settings)
    factory = make_session_factory(make_engine(settings))
    with factory() as session:
        token = create_api_token(session, get_owner(session), "tests").plaintext
        session.commit()
    wrong = {"Authorization": "Bearer lct_guess"}
    bodies = [{"json": {"url": "https://blog.example.org/not-saved"}}, {"json": {"url": 5}},
              {"content": b"{not json", "headers": {"content-type": "application/json"}},
              {"files": {"file": ("p.pdf", make_test_pdf(["One page"]), "application/pdf")}}]
    for body in bodies:
        response = client.post("/api/v1/items", **{**body, "headers": {**body.get("headers", {}), **wrong}})
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"
    refused = client.post("/api/v1/items", json={"url": "https://blog.example.org/not-saved"},
                          headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 429
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 0
    assert settings.files_dir.is_dir() and not [p for p in settings.files_dir.rglob("*") if p.is_file()]


def test_a_json_save_makes_one_trip_through_the_thread_pool(api, monkeypatch):
    """The token's look-up and the save share one trip (each trip is two thread switches, which a
    busy machine makes slow); the ping makes one too, for the token."""
    import anyio.to_thread

    trips: list[str] = []
    real = anyio.to_thread.run_sync

    async def counted(fn, *args, **kwargs):
        trips.append(getattr(fn, "__qualname__", repr(fn)))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    assert api.get("/api/v1/ping").status_code == 200
    assert len(trips) == 1, trips
    trips.clear()
    assert api.post("/api/v1/items", json={"url": "https://blog.example.org/one-trip"}).status_code == 201
    assert len(trips) == 1, trips


def test_save_a_url_answers_at_once_with_a_queued_item(api):
    response = api.post("/api/v1/items", json={"url": "https://arxiv.org/abs/2502.09992v1", "tags": ["ml/diffusion"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] is True and body["queued"] is True
    item = body["item"]
    assert item["status"] == "queued" and item["kind"] == "paper" and item["arxiv_id"] == "2502.09992"
    assert item["canonical_url"] == "https://arxiv.org/abs/2502.09992"
    assert [t["name"] for t in item["tags"]] == ["ml/diffusion"]
    fetched = api.get(f"/api/v1/items/{item['id']}").json()
    assert fetched["status"] == "queued"


def test_a_new_item_is_answered_as_it_reads_back(api):
    """The answer to a save is built from what was committed, without reading the item back: it
    must say what a GET says (tags in order, the PDF's pages, the captured text's kind)."""
    saved = [
        api.post("/api/v1/items", json={"url": "https://blog.example.org/p?utm_source=x", "title": "A post",
                                        "tags": ["zeta", "alpha", "ml/rl", "alpha"], "note": "later"}),
        api.post("/api/v1/items", json={"url": "https://x.com/someone/status/1900000000000000002", "kind": "tweet",
                                        "text": "A tweet worth keeping", "selection": "worth"}),
        api.post("/api/v1/items", files={"file": ("p.pdf", make_test_pdf(["One page"]), "application/pdf")},
                 data={"tags": "b,a"}),
    ]
    for response in saved:
        assert response.status_code == 201, response.text
        item = response.json()["item"]
        assert api.get(f"/api/v1/items/{item['id']}").json() == item
    assert [t["name"] for t in saved[0].json()["item"]["tags"]] == ["alpha", "ml/rl", "zeta"]


def test_the_token_check_is_one_query_and_a_new_save_three_more(api):
    """Every API request pays for the token check; a save on top of it looks the URL up, inserts
    the item and marks it for indexing, nothing else (no second transaction, no read back)."""
    with recorded_statements(api.app.state.services.engine) as statements:
        assert api.get("/api/v1/ping").status_code == 200
        assert [st.split()[0] for st in statements] == ["SELECT"]
        statements.clear()
        assert api.post("/api/v1/items", json={"url": "https://blog.example.org/counted"}).status_code == 201
        assert [st.split()[0] for st in statements] == ["SELECT", "SELECT", "INSERT", "INSERT"]


def test_duplicate_save_answers_200_with_the_existing_item_or_409_when_asked(api):
    first = api.post("/api/v1/items", json={"url": "https://huggingface.co/papers/2502.09992"}).json()
    second = api.post("/api/v1/items", json={"url": "https://arxiv.org/pdf/2502.09992v2"})
    assert second.status_code == 200 and second.json()["created"] is False
    assert second.json()["item"]["id"] == first["item"]["id"]
    third = api.post("/api/v1/items?fail_on_duplicate=true", json={"url": "https://arxiv.org/abs/2502.09992"})
    assert third.status_code == 409 and third.json()["error"]["code"] == "conflict"


def test_captured_tweet_text_is_kept(api):
    payload = {"url": "https://twitter.com/iiiShiguiLi/status/1900000000000000001?s=20", "kind": "tweet",
               "text": "🎉 Our paper about Preference Optimization has been accepted to ICML 2026!",
               "extra": {"handle": "@iiiShiguiLi"}}
    item = api.post("/api/v1/items", json=payload).json()["item"]
    assert item["kind"] == "tweet"
    assert item["canonical_url"].startswith("https://x.com/")


@pytest.mark.parametrize("payload", [{}, {"url": ""}, {"url": 5}, {"url": "x", "kind": "video"}])
def test_invalid_bodies_get_422_with_details(api, payload):
    response = api.post("/api/v1/items", json=payload)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1/", "javascript:alert(1)", "not a url at all"])
def test_unsaveable_urls_get_400_with_a_message(api, url):
    response = api.post("/api/v1/items", json={"url": url})
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_malformed_json_is_422_not_500(api):
    response = api.post("/api/v1/items", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422


def test_upload_a_pdf_then_the_same_bytes_again_is_one_item(api):
    pdf = make_test_pdf(["Uploaded paper text"], title="An Uploaded Paper")
    first = api.post("/api/v1/items", files={"file": ("paper.pdf", pdf, "application/pdf")})
    assert first.status_code == 201, first.text
    assert first.json()["item"]["has_pdf"] is True and first.json()["item"]["kind"] == "paper"
    second = api.post("/api/v1/items", files={"file": ("copy.pdf", pdf, "application/pdf")})
    assert second.status_code == 200 and second.json()["item"]["id"] == first.json()["item"]["id"]


def test_upload_of_something_that_is_not_a_pdf_is_refused(api):
    response = api.post("/api/v1/items", files={"file": ("evil.pdf", b"<html><script>x</script>", "application/pdf")})
    assert response.status_code == 400 and "not a PDF" in response.json()["error"]["message"]


def test_unknown_item_is_404_json(api):
    response = api.get("/api/v1/items/999999")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_bodies_over_the_limit_get_413_before_parsing(tmp_path, make_client):
    settings = make_settings(tmp_path, upload_max_bytes=1024)
    client = make_client(settings)
    response = client.post("/api/v1/items", content=b"x" * 5000, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


def test_broker_down_still_saves_the_item_as_queued(tmp_path, make_client):
    settings = make_settings(tmp_path, broker_url="redis://127.0.0.1:1/0")  # nothing listens there
    client = make_client(settings)
    factory = make_session_factory(make_engine(settings))
    with factory() as session:
        token = create_api_token(session, get_owner(session), "t").plaintext
        session.commit()
    response = client.post("/api/v1/items", json={"url": "https://example.org/post"},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201
    assert response.json()["queued"] is False and response.json()["item"]["status"] == "queued"


def test_saving_runs_off_the_event_loop(api, monkeypatch):
    """A save's database and broker work runs on the thread pool: a save done on the event loop
    held every other request (searches included) behind it while eight clients saved."""
    import asyncio

    from app.services import items as items_service

    on_loop: list[bool] = []
    real_save, real_upload = items_service.save_item, items_service.save_uploaded_pdf

    def running_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    def save_item(*a, **kw):
        on_loop.append(running_loop())
        return real_save(*a, **kw)

    def save_uploaded_pdf(*a, **kw):
        on_loop.append(running_loop())
        return real_upload(*a, **kw)

    monkeypatch.setattr(items_service, "save_item", save_item)
    monkeypatch.setattr(items_service, "save_uploaded_pdf", save_uploaded_pdf)
    assert api.post("/api/v1/items", json={"url": "https://example.org/off-the-loop"}).status_code == 201
    assert api.post("/api/v1/items", json={"url": "https://example.org/off-the-loop"}).status_code == 200
    pdf = make_test_pdf(["one page"], title="Loop")
    assert api.post("/api/v1/items", files={"file": ("loop.pdf", pdf, "application/pdf")}).status_code == 201
    assert on_loop == [False, False, False]
