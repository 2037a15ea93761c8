"""docker-compose.yml, .env.example and the Dockerfile agree with each other and with Settings.

Docker does not run in the test environment, so this reads the files the way Compose does:
${VAR} interpolation against .env.example (standing in for .env), then env_file, then environment.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import ValidationError

from app.config import Settings
from tests.fixtures.meili import INDEXING_MEMORY

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"

APP_SERVICES = ("web", "worker")
BACKENDS = ("postgres", "redis", "meilisearch")
SETTINGS_VARS = {f"LECTERN_{name.upper()}" for name in Settings.model_fields}

# $$ (a literal $), ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}
INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
            values[key.strip()] = value.strip()
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.groups()
        value = env.get(name)
        missing = value is None or (value == "" and op and op.startswith(":"))
        if not missing:
            return value
        if op in ("?", ":?"):
            raise AssertionError(f"compose would refuse to start: {name} is unset ({arg})")
        return arg or ""

    return INTERPOLATION.sub(replace, text)


def resolve(node, env: dict[str, str]):
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    return node


def load_compose(dotenv: dict[str, str]) -> dict:
    return resolve(yaml.safe_load(COMPOSE_FILE.read_text()), dotenv)


def container_env(compose: dict, service: str, dotenv: dict[str, str]) -> dict[str, str]:
    """What the service's process sees: env_file (.env), then environment on top."""
    spec = compose["services"][service]
    files = spec.get("env_file", [])
    env: dict[str, str] = {}
    for name in [files] if isinstance(files, str) else files:
        assert name == ".env", f"{service}: env_file {name!r} is not the documented .env"
        env.update(dotenv)
    environment = spec.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    env.update({key: str(value) for key, value in environment.items()})
    return env


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def distinct_env(example_env: dict[str, str]) -> dict[str, str]:
    """.env.example's variables, each with a value no other has, so one wired to the wrong place shows."""
    return {key: f"{key.lower()}-value" for key in example_env}


@pytest.fixture(scope="module")
def compose(distinct_env: dict[str, str]) -> dict:
    return load_compose(distinct_env)


@pytest.fixture(scope="module")
def app_env(compose: dict, distinct_env: dict[str, str]) -> dict[str, dict[str, str]]:
    return {service: container_env(compose, service, distinct_env) for service in APP_SERVICES}


def dockerfile_lines() -> list[str]:
    return [line.strip() for line in DOCKERFILE.read_text().splitlines()]


def assert_pinned(image: str) -> None:
    tag = image.split("@")[0].rpartition("/")[2].partition(":")[2]
    assert tag and tag != "latest" and re.search(r"\d", tag), (
        f"image not pinned to a version: {image}"
    )


def test_every_image_is_pinned_to_a_version(compose: dict) -> None:
    images = [spec["image"] for spec in compose["services"].values() if "image" in spec]
    images += [line.split()[1] for line in dockerfile_lines() if line.upper().startswith("FROM ")]
    assert len(images) >= 5
    for image in images:
        assert_pinned(image)


def test_compose_defines_the_backends_and_the_app_services(compose: dict) -> None:
    assert set(BACKENDS + APP_SERVICES) <= set(compose["services"])
    for service in APP_SERVICES:
        assert "build" in compose["services"][service], (
            f"{service} is not built from the Dockerfile"
        )


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_get_the_production_configuration(app_env: dict, service: str) -> None:
    env = app_env[service]
    assert env["LECTERN_ENVIRONMENT"] == "production"
    assert env["LECTERN_SEARCH_BACKEND"] == "meilisearch"
    assert env["LECTERN_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["LECTERN_BROKER_URL"].startswith("redis://")
    assert env["LECTERN_MEILI_URL"].startswith("http://")
    for name in ("LECTERN_MEILI_KEY", "LECTERN_SECRET_KEY", "LECTERN_DATA_DIR"):
        assert env.get(name), f"{service}: {name} is empty"


def test_every_lectern_variable_is_a_settings_field() -> None:
    texts = [COMPOSE_FILE.read_text(), ENV_EXAMPLE.read_text(), DOCKERFILE.read_text()]
    used = {name for text in texts for name in re.findall(r"\bLECTERN_[A-Z0-9_]+", text)}
    assert {"LECTERN_SECRET_KEY", "LECTERN_DATABASE_URL"} <= used
    assert used <= SETTINGS_VARS, f"not Settings fields: {sorted(used - SETTINGS_VARS)}"


def test_every_variable_compose_interpolates_is_in_env_example(example_env: dict[str, str]) -> None:
    referenced = {
        m.group(1) for m in INTERPOLATION.finditer(COMPOSE_FILE.read_text()) if m.group(1)
    }
    assert referenced, "compose interpolates nothing from .env"
    assert referenced <= set(example_env), (
        f"missing from .env.example: {sorted(referenced - set(example_env))}"
    )


@pytest.mark.parametrize(
    ("variable", "service", "port"),
    [
        ("LECTERN_DATABASE_URL", "postgres", 5432),
        ("LECTERN_BROKER_URL", "redis", 6379),
        ("LECTERN_MEILI_URL", "meilisearch", 7700),
    ],
)
def test_app_urls_name_compose_services(
    compose: dict, app_env: dict, variable: str, service: str, port: int
) -> None:
    for app_service in APP_SERVICES:
        url = urlsplit(app_env[app_service][variable])
        assert url.hostname == service and url.hostname in compose["services"]
        assert (url.port or port) == port


def test_database_url_uses_the_postgres_service_credentials(compose: dict, app_env: dict) -> None:
    postgres = compose["services"]["postgres"]["environment"]
    for service in APP_SERVICES:
        url = urlsplit(app_env[service]["LECTERN_DATABASE_URL"])
        assert url.username == postgres["POSTGRES_USER"]
        assert url.password == postgres["POSTGRES_PASSWORD"]
        assert url.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_meili_key_is_the_master_key(compose: dict, app_env: dict) -> None:
    master_key = compose["services"]["meilisearch"]["environment"]["MEILI_MASTER_KEY"]
    assert master_key
    for service in APP_SERVICES:
        assert app_env[service]["LECTERN_MEILI_KEY"] == master_key


def test_meilisearch_indexing_memory_is_the_one_tests_and_bench_use(compose: dict) -> None:
    """The bench and the test server run Meilisearch as production does: bounded indexing memory,
    without which one-item updates stall (bench/meili_memory.py)."""
    assert compose["services"]["meilisearch"]["environment"]["MEILI_MAX_INDEXING_MEMORY"] == INDEXING_MEMORY


def one_shot_services(compose: dict) -> set[str]:
    """Services others wait for to finish (the migration), which need no healthcheck."""
    return {
        name
        for spec in compose["services"].values()
        if isinstance(spec.get("depends_on"), dict)
        for name, dep in spec["depends_on"].items()
        if dep.get("condition") == "service_completed_successfully"
    }


def test_every_long_running_service_has_a_healthcheck(compose: dict) -> None:
    long_running = set(compose["services"]) - one_shot_services(compose)
    assert set(BACKENDS + APP_SERVICES) <= long_running
    for name in long_running:
        check = compose["services"][name].get("healthcheck", {})
        assert not check.get("disable") and check.get("test"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: {check['test']}"


def test_one_shot_services_do_not_restart(compose: dict) -> None:
    for name in one_shot_services(compose):
        assert compose["services"][name].get("restart", "no") == "no"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_start_after_healthy_backends(compose: dict, service: str) -> None:
    depends_on = compose["services"][service]["depends_on"]
    for backend in BACKENDS:
        assert depends_on[backend]["condition"] == "service_healthy"
    for name in one_shot_services(compose):
        assert depends_on[name]["condition"] == "service_completed_successfully"


def test_web_healthcheck_probes_healthz_on_the_served_port(compose: dict) -> None:
    web = compose["services"]["web"]
    port = web["command"][web["command"].index("--port") + 1]
    assert "--no-worker" in web["command"]
    assert f"127.0.0.1:{port}/healthz" in " ".join(web["healthcheck"]["test"])
    assert all(mapping.endswith(f":{port}") for mapping in web["ports"])


def test_data_volume_is_shared_by_web_and_worker_at_the_data_dir(
    compose: dict, app_env: dict
) -> None:
    sources = set()
    for service in APP_SERVICES:
        data_dir = app_env[service]["LECTERN_DATA_DIR"]
        assert f"LECTERN_DATA_DIR={data_dir}" in DOCKERFILE.read_text()
        mounts = [m.split(":") for m in compose["services"][service]["volumes"]]
        at_data_dir = [source for source, target, *_ in mounts if target == data_dir]
        assert len(at_data_dir) == 1, f"{service}: nothing mounted at {data_dir}"
        sources.add(at_data_dir[0])
    assert len(sources) == 1, f"web and worker mount different volumes: {sources}"
    assert sources <= set(compose["volumes"]), "the data volume is not a named volume"


def test_worker_can_scale_out(compose: dict) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["command"][:2] == ["lectern", "worker"]


def test_image_runs_as_a_non_root_user() -> None:
    users = [line.split()[1] for line in dockerfile_lines() if line.upper().startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


@pytest.fixture
def web_environ(example_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The web container's environment as this process's environment (Settings reads it there)."""
    for key in [k for k in os.environ if k.upper().startswith("LECTERN_")]:
        monkeypatch.delenv(key)
    env = container_env(load_compose(example_env), "web", example_env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_settings_refuse_the_example_secret_key(web_environ: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="LECTERN_SECRET_KEY"):
        Settings()


def test_settings_accept_the_compose_environment_once_the_secret_is_set(
    web_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LECTERN_SECRET_KEY", secrets.token_hex(32))
    settings = Settings()
    assert settings.environment == "production"
    assert settings.search_backend == "meilisearch"
    assert settings.effective_database_url == web_environ["LECTERN_DATABASE_URL"]
    assert settings.effective_broker_url == web_environ["LECTERN_BROKER_URL"]
    assert str(settings.data_dir) == web_environ["LECTERN_DATA_DIR"]


@pytest.mark.parametrize("service", ["meilisearch", "worker"])
def test_background_services_yield_the_cpu_to_the_web(compose: dict, service: str) -> None:
    # A save waits on the web process; Meilisearch indexing or a PDF extraction must not take its core.
    web_shares = compose["services"]["web"].get("cpu_shares", 1024)
    assert compose["services"][service]["cpu_shares"] < web_shares
