"""First run, log in, log out, CSRF and redirects, through the ASGI app."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

import pytest

from app.services.auth import csrf_token_for
from app.web.routes import AHEAD, ROUTERS
from tests.fixtures.app import TEST_PASSWORD, csrf_of, login, make_settings


class Forms(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.actions: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "form":
            self.actions.append(dict(attrs).get("action", ""))


def test_first_run_asks_for_a_password_then_logs_in(tmp_path, make_client):
    client = make_client(make_settings(tmp_path, password=""))
    first = client.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/setup"
    page = client.get("/setup")
    assert "/setup" in Forms(page.text).actions
    bad = client.post("/setup", data={"password": "longpassword", "password2": "different"})
    assert bad.status_code == 400 and "differ" in bad.text
    ok = client.post("/setup", data={"password": "longpassword", "password2": "longpassword"}, follow_redirects=False)
    assert ok.status_code == 303
    assert client.get("/").status_code == 200
    # The owner exists now: setup is closed.
    again = client.post("/setup", data={"password": "otherpassword", "password2": "otherpassword"},
                        follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/login"


def test_wrong_password_is_refused_with_a_message(settings, make_client):
    client = make_client(settings)
    response = client.post("/login", data={"password": "nope", "next": "/"})
    assert response.status_code == 401 and "Wrong password" in response.text
    assert client.get("/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("target", ["//evil.example", "/\\evil.example", "https://evil.example/", "javascript:alert(1)"])
def test_login_never_redirects_off_site(settings, make_client, target):
    client = make_client(settings)
    response = client.post("/login", data={"password": TEST_PASSWORD, "next": target}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_login_returns_to_the_page_asked_for(settings, make_client):
    client = make_client(settings)
    bounce = client.get("/search?q=x", follow_redirects=False)
    assert bounce.headers["location"] == "/login?next=/search%3Fq%3Dx"
    response = client.post("/login", data={"password": TEST_PASSWORD, "next": "/search?q=x"}, follow_redirects=False)
    assert response.headers["location"] == "/search?q=x"


def test_login_gives_a_new_session_and_logout_ends_it(settings, make_client):
    client = make_client(settings)
    login(client)
    first = client.cookies.get("lectern_session")
    login(client)
    second = client.cookies.get("lectern_session")
    assert first and second and first != second
    token = csrf_of(client)
    client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    client.cookies.set("lectern_session", second)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_state_changes_need_the_csrf_token(client):
    refused = client.post("/items", data={"url": "https://example.org/a"})
    assert refused.status_code == 403 and "expired" in refused.text
    accepted = client.post("/items", data={"url": "https://example.org/a", "csrf_token": csrf_of(client)},
                           follow_redirects=False)
    assert accepted.status_code == 303


def test_cross_site_login_post_is_refused(settings, make_client):
    client = make_client(settings)
    response = client.post("/login", data={"password": TEST_PASSWORD}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


def test_security_headers_on_every_page(client):
    response = client.get("/")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "unsafe-inline" not in response.headers["content-security-policy"].split("script-src")[1].split(";")[0]


def test_every_answer_says_in_server_timing_how_long_the_app_took(client):
    started = time.perf_counter()
    response = client.get("/")
    elapsed_ms = (time.perf_counter() - started) * 1000
    name, _, dur = response.headers["server-timing"].partition(";dur=")
    assert name == "app"
    assert 0 < float(dur) <= elapsed_ms
    assert "server-timing" in client.get("/api/v1/ping").headers


def test_login_is_throttled_per_address_and_a_spoofed_forwarded_for_does_not_help(tmp_path, make_client):
    client = make_client(make_settings(tmp_path, login_max_failures=3))
    for n in range(3):
        spoof = {"X-Forwarded-For": f"203.0.113.{n}"}  # not from a trusted proxy: ignored
        assert client.post("/login", data={"password": "wrong"}, headers=spoof).status_code == 401
    blocked = client.post("/login", data={"password": TEST_PASSWORD}, headers={"X-Forwarded-For": "198.51.100.7"})
    assert blocked.status_code == 429 and "Too many failed logins" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0


def test_forwarded_for_is_believed_only_from_a_trusted_proxy():
    from app.services.throttle import client_address

    assert client_address("10.0.0.5", "203.0.113.9", []) == "10.0.0.5"
    assert client_address("10.0.0.5", "203.0.113.9", ["10.0.0.0/8"]) == "203.0.113.9"
    # A client that prepends its own entry cannot choose its address: the proxy appended the real one.
    assert client_address("10.0.0.5", "1.2.3.4, 203.0.113.9", ["10.0.0.0/8"]) == "203.0.113.9"
    assert client_address("10.0.0.5", "garbage", ["10.0.0.0/8"]) == "garbage"


def test_throttle_window_slides():
    from app.services.throttle import LoginThrottle

    now = [1000.0]
    throttle = LoginThrottle(max_failures=2, window_seconds=60, clock=lambda: now[0])
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.retry_after("a") == 60 and throttle.retry_after("b") == 0
    now[0] += 61
    assert throttle.retry_after("a") == 0


# Open without a login: logging in itself, the health check, and tag feeds (their own secret).
PUBLIC = {"/setup", "/login", "/logout", "/healthz", "/feeds/tags/{tag_name:path}.atom"}
WEB_ROUTES = sorted(
    (method, route.path) for router in AHEAD + ROUTERS for route in router.routes
    for method in route.methods if route.path not in PUBLIC
)


@pytest.mark.parametrize(("method", "path"), WEB_ROUTES)
def test_every_other_page_and_action_sends_a_stranger_to_the_login(settings, make_client, method, path):
    """Whether the route checks the login as a dependency or inside (app.web.routes.search): a
    request with an unknown session cookie and its matching CSRF token is sent to /login."""
    client = make_client(settings)
    client.cookies.set("lectern_session", "not-a-session")
    url = re.sub(r"\{[^}]+\}", "1", path)
    response = client.request(method, url, follow_redirects=False,
                              headers={"X-CSRF-Token": csrf_token_for(settings.secret_key, "not-a-session")})
    assert response.status_code == 303, (method, path, response.status_code)
    assert response.headers["location"].startswith("/login?next="), (method, path)
