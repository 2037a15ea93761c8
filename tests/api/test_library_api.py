"""The JSON API beyond saving: list with the search syntax, update, delete, tags, notes, status."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.db import make_engine, make_session_factory
from app.main import create_app
from app.repo.users import get_owner
from app.services.auth import create_api_token
from app.services.jobs import NoJobQueue


@pytest.fixture
def api(db_settings) -> TestClient:
    client = TestClient(create_app(db_settings, jobs=NoJobQueue()), base_url="http://testserver")
    client.__enter__()
    factory = make_session_factory(make_engine(db_settings))
    with factory() as session:
        token = create_api_token(session, get_owner(session), "tests").plaintext
        session.commit()
    client.headers["Authorization"] = f"Bearer {token}"
    yield client
    client.__exit__(None, None, None)


def _save(api, url, tags=()):
    response = api.post("/api/v1/items", json={"url": url, "tags": list(tags)})
    assert response.status_code == 201, response.text
    return response.json()["item"]


def test_list_filters_with_the_search_syntax_from_the_database(api):
    paper = _save(api, "https://arxiv.org/abs/2502.09992", ["ml/diffusion"])
    _save(api, "https://example.org/blog/post", ["cooking"])
    tweet = _save(api, "https://x.com/someone/status/1900000000000000001", ["ml"])
    everything = api.get("/api/v1/items").json()
    assert everything["total"] == 3 and [i["id"] for i in everything["items"]][0] == tweet["id"]
    assert {i["id"] for i in api.get("/api/v1/items", params={"q": "tag:ml"}).json()["items"]} == {paper["id"], tweet["id"]}
    assert [i["id"] for i in api.get("/api/v1/items", params={"q": "tag:ml kind:paper"}).json()["items"]] == [paper["id"]]
    api.patch(f"/api/v1/items/{paper['id']}", json={"starred": True})
    assert [i["id"] for i in api.get("/api/v1/items", params={"q": "is:starred"}).json()["items"]] == [paper["id"]]
    page = api.get("/api/v1/items", params={"page_size": 2, "page": 2, "status": "queued"}).json()
    assert page["total"] == 3 and len(page["items"]) == 1


def test_patch_changes_title_tags_read_state_and_star(api):
    item = _save(api, "https://example.org/a", ["old", "keep"])
    response = api.patch(f"/api/v1/items/{item['id']}",
                         json={"title": "A better title", "tags": ["keep", "New/Child"], "read_state": "read"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["title"] == "A better title" and body["read_state"] == "read" and body["starred"] is False
    assert sorted(t["name"] for t in body["tags"]) == ["New/Child", "keep"]
    assert api.patch(f"/api/v1/items/{item['id']}", json={"read_state": "finished"}).status_code == 422
    assert api.patch("/api/v1/items/424242", json={"starred": True}).status_code == 404


def test_delete_moves_to_trash_then_item_is_404(api):
    item = _save(api, "https://example.org/gone")
    assert api.delete(f"/api/v1/items/{item['id']}").status_code == 204
    assert api.get(f"/api/v1/items/{item['id']}").status_code == 404
    assert api.delete(f"/api/v1/items/{item['id']}").status_code == 404
    assert api.get("/api/v1/items").json()["total"] == 0
    other = _save(api, "https://example.org/forever")
    assert api.delete(f"/api/v1/items/{other['id']}?permanent=true").status_code == 204
    assert api.delete(f"/api/v1/items/{other['id']}?permanent=true").json()["error"]["code"] == "not_found"


def test_tags_list_rename_and_merge(api):
    a = _save(api, "https://example.org/1", ["ML", "deep-learning"])
    _save(api, "https://example.org/2", ["dl"])
    tags = {t["name"]: t for t in api.get("/api/v1/tags").json()}
    assert tags["ML"]["count"] == 1 and tags["dl"]["count"] == 1
    renamed = api.post(f"/api/v1/tags/{tags['ML']['id']}/rename", json={"name": "machine-learning"}).json()
    assert renamed["name"] == "machine-learning" and renamed["count"] == 1
    merged = api.post(f"/api/v1/tags/{tags['deep-learning']['id']}/merge", json={"source_ids": [tags["dl"]["id"]]})
    assert merged.status_code == 200 and merged.json()["count"] == 2
    assert "dl" not in {t["name"] for t in api.get("/api/v1/tags").json()}
    assert api.post("/api/v1/tags/999999/rename", json={"name": "x"}).status_code == 404
    assert api.post(f"/api/v1/tags/{tags['ML']['id']}/rename", json={"name": " / "}).status_code == 400
    assert api.post(f"/api/v1/tags/{renamed['id']}/merge", json={"source_ids": [999999]}).status_code == 404
    assert [t["name"] for t in api.get(f"/api/v1/items/{a['id']}").json()["tags"]] == ["deep-learning", "machine-learning"]


def test_note_thread_create_reply_edit_delete(api):
    item = _save(api, "https://example.org/notes")
    url = f"/api/v1/items/{item['id']}/notes"
    root = api.post(url, json={"body": "First thought, $e^{i\\pi}+1=0$"})
    assert root.status_code == 201
    root = root.json()
    reply = api.post(url, json={"body": "A reply", "parent_id": root["id"]}).json()
    deeper = api.post(f"/api/v1/notes/{reply['id']}/replies", json={"body": "Deeper"}).json()
    assert deeper["parent_id"] == reply["id"]
    edited = api.patch(f"/api/v1/notes/{reply['id']}", json={"body": "An edited reply"}).json()
    assert edited["body"] == "An edited reply" and edited["edited_at"] is not None
    assert api.delete(f"/api/v1/notes/{root['id']}").status_code == 204
    thread = api.get(url).json()
    assert len(thread) == 1 and thread[0]["deleted"] is True and thread[0]["body"] == ""
    assert thread[0]["replies"][0]["body"] == "An edited reply"
    assert thread[0]["replies"][0]["replies"][0]["body"] == "Deeper"
    assert api.post(url, json={"body": "   "}).status_code == 400
    assert api.post(url, json={"body": "x", "parent_id": 999999}).status_code == 404
    assert api.patch(f"/api/v1/notes/{root['id']}", json={"body": "revive"}).status_code == 404
    assert api.get("/api/v1/items/999999/notes").status_code == 404


def test_status_and_retry(api):
    item = _save(api, "https://example.org/status")
    status = api.get(f"/api/v1/items/{item['id']}/status").json()
    assert status == {"id": item["id"], "status": "queued", "error": "", "attempts": 0, "final": False}
    assert api.post(f"/api/v1/items/{item['id']}/retry").json()["status"] == "queued"
    assert api.get("/api/v1/items/0/status").status_code == 422
    assert api.get(f"/api/v1/items/{2**40}/status").status_code == 422
