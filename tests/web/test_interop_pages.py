"""The API token page, the import page (upload, progress fragment, summary), downloads and tag feeds."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.main import create_app
from app.services.imports.run import run_import_job
from app.services.jobs import NoJobQueue
from tests.fixtures.app import csrf_of, login, make_settings
from tests.services.test_imports_bibtex import ZOTERO


def _client(tmp_path, **overrides) -> TestClient:
    client = TestClient(create_app(make_settings(tmp_path, **overrides), jobs=NoJobQueue()))
    client.__enter__()
    return login(client)


def test_tokens_are_shown_once_listed_and_revoked(tmp_path):
    client = _client(tmp_path)
    csrf = csrf_of(client)
    page = client.post("/settings/tokens", data={"name": "laptop <script>", "csrf_token": csrf}).text
    token = re.search(r'class="token-value">(lct_[\w-]+)<', page).group(1)
    assert "laptop &lt;script&gt;" in page
    api = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/tags", headers=api).status_code == 200
    listing = client.get("/settings/tokens").text
    assert token not in listing and "laptop &lt;script&gt;" in listing
    token_id = re.search(r'/settings/tokens/(\d+)/revoke', listing).group(1)
    assert client.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    assert client.get("/api/v1/tags", headers=api).status_code == 401
    assert client.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": "bad"}).status_code == 403
    client.__exit__(None, None, None)


def test_import_page_uploads_then_the_job_fragment_polls_until_the_summary(tmp_path):
    client = _client(tmp_path)
    csrf = csrf_of(client)
    response = client.post("/imports", data={"format": "bibtex", "csrf_token": csrf},
                           files={"file": ("zotero.bib", ZOTERO.encode(), "text/plain")}, follow_redirects=False)
    assert response.status_code == 303
    job_url = response.headers["location"]
    waiting = client.get(job_url, headers={"HX-Request": "true"}).text
    assert waiting.startswith("<section") and 'hx-trigger="every 1s"' in waiting and "Waiting for the worker" in waiting
    services = client.app.state.services
    run_import_job(services.factory, services.settings, int(job_url.rsplit("/", 1)[1]))
    done = client.get(job_url, headers={"HX-Request": "true"}).text
    assert "hx-trigger" not in done and '<span class="count-created">2</span>' in done
    assert "zotero.bib" in client.get("/imports").text
    bad = client.post("/imports", data={"format": "nope", "csrf_token": csrf},
                      files={"file": ("x.bib", b"x", "text/plain")})
    assert bad.status_code == 400 and "unknown import format" in bad.text
    bib = client.get("/exports/bibtex?tag=diffusion")
    assert bib.status_code == 200 and "attachment" in bib.headers["content-disposition"]
    assert bib.text.count("@") == 2
    feed = client.get("/feeds/tags/diffusion.atom")
    assert feed.status_code == 200 and feed.text.count("<entry>") == 2
    anonymous = TestClient(client.app)
    assert anonymous.get("/feeds/tags/diffusion.atom").status_code == 404
    client.__exit__(None, None, None)


def test_public_feeds_are_served_without_login_when_enabled(tmp_path):
    client = _client(tmp_path, feeds_public=True)
    client.post("/items", data={"url": "https://example.org/x", "tags": "shared", "csrf_token": csrf_of(client)})
    anonymous = TestClient(client.app)
    feed = anonymous.get("/feeds/tags/shared.atom")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
    assert "<category term=\"shared\"/>" in feed.text
    assert anonymous.get("/feeds/tags/unknown.atom").status_code == 404
    client.__exit__(None, None, None)
