from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.services.jobs import NoJobQueue
from tests.fixtures.app import csrf_of, login


@pytest.fixture
def ui(settings):
    """A logged-in client with its CSRF header set for HTMX posts. The app has no broker (the
    outbox rows it writes are what the worker would apply), so pages are tested on their own."""
    client = TestClient(create_app(settings, jobs=NoJobQueue()), base_url="http://testserver")
    client.__enter__()
    login(client)
    client.headers.update({"X-CSRF-Token": csrf_of(client)})
    yield client
    client.__exit__(None, None, None)


HTMX = {"HX-Request": "true"}
