"""Property-based run of the JSON API against its own OpenAPI schema (schemathesis).

Every operation under /api/v1 gets generated valid and invalid requests (with a real token and a
few real items, tags and notes in the database): none may answer 5xx, and every response must
match the schema (status code, content type, body). Bounded and derandomized, so CI is stable.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import positive_data_acceptance

from app.db import make_engine, make_session_factory
from app.main import create_app
from app.repo.users import get_owner
from app.services import items as items_service
from app.services import notes as notes_service
from app.services.auth import create_api_token
from app.services.jobs import NoJobQueue
from tests.fixtures.app import make_settings

TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    s = make_settings(tmp_path_factory.mktemp("schemathesis"))
    app = create_app(s, jobs=NoJobQueue())
    client = TestClient(app)
    client.__enter__()  # runs start-up: migrations and the owner account
    factory = make_session_factory(make_engine(s))
    jobs = NoJobQueue()
    with factory() as session:
        TOKEN["value"] = create_api_token(session, get_owner(session), "schemathesis").plaintext
        session.commit()
    for n, url in enumerate(("https://arxiv.org/abs/2502.09992", "https://example.org/post", "https://x.com/a/status/1")):
        item = items_service.save_item(factory, jobs, items_service.SaveRequest(url=url, tags=["ml", f"t{n}"])).item
        note = notes_service.add_note(factory, jobs, item.id, "a note")
        notes_service.reply_to_note(factory, jobs, note.id, "a reply")
    yield schemathesis.openapi.from_asgi("/api/openapi.json", app).include(path_regex="^/api/v1/")
    client.__exit__(None, None, None)


def _run_operation(operation, token: str) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=20, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case) -> None:
        # The schema cannot say "a URL of a web page" or "the bytes of a PDF", so a schema-valid
        # request may rightly get 400; every other check (no 5xx, status codes, content types,
        # bodies, negative data rejected) applies.
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                               excluded_checks=[positive_data_acceptance])

    run()


def test_api_conforms_to_its_schema_and_never_answers_5xx(api_schema):
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        try:
            _run_operation(operation, TOKEN["value"])
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - gather every failure, then report
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)
