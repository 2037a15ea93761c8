"""Lectern run as a user runs it: `lectern serve` and `lectern worker` processes, configured only by
environment variables, on the embedded default or on PostgreSQL + Redis + Meilisearch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.fixtures.app import ROOT, TEST_PASSWORD, wait_for
from tests.fixtures.services import free_port


@dataclass
class Stack:
    name: str
    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)
    worker: subprocess.Popen | None = None
    token: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, *args: str, log: str) -> subprocess.Popen:
        out = open(self.workdir / log, "ab")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args], cwd=self.workdir, env=self.env, stdout=out,
            stderr=out, start_new_session=True,
        )
        self.processes.append(proc)
        return proc

    def start_web(self, *, with_worker: bool = False) -> None:
        args = ["serve", "--port", str(self.port)] + ([] if with_worker else ["--no-worker"])
        self._spawn(*args, log="web.log")
        wait_for(self._healthy, timeout=60, what=f"{self.name} web on {self.base_url}")
        result = subprocess.run(
            [sys.executable, "-m", "app.cli", "token", "create", "e2e"], cwd=self.workdir, env=self.env,
            capture_output=True, text=True, timeout=60, check=True,
        )
        self.token = result.stdout.strip()

    def start_worker(self, *args: str) -> subprocess.Popen:
        self.worker = self._spawn("worker", *args, log="worker.log")
        return self.worker

    def kill_worker(self) -> None:
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    @contextmanager
    def browser(self) -> Iterator[httpx.Client]:
        """A logged-in cookie client, as a browser would be."""
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            response = client.post("/login", data={"password": TEST_PASSWORD, "next": "/"})
            assert response.status_code in (200, 303), response.text
            yield client

    def wait_item(self, item_id: int, states=("ready", "failed"), timeout: float = 60) -> dict:
        with self.api() as api:
            def settled():
                item = api.get(f"/api/v1/items/{item_id}").json()
                return item if item["status"] in states else None

            try:
                return wait_for(settled, timeout=timeout, interval=0.1, what=f"item {item_id} to reach {states}")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n--- worker log ---\n{self.logs()}") from None

    def logs(self) -> str:
        parts = []
        for name in ("web.log", "worker.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(f"== {name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def base_env(workdir: Path, fake_base_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LECTERN_")}
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        LECTERN_PASSWORD=TEST_PASSWORD,
        LECTERN_ARXIV_API_URL=f"{fake_base_url}/api/query",
        LECTERN_ARXIV_PDF_URL=f"{fake_base_url}/pdf",
        LECTERN_OEMBED_URL=f"{fake_base_url}/oembed",
        LECTERN_FETCH_ALLOW_HOSTS=json.dumps(["127.0.0.1"]),
        LECTERN_JOB_LEASE_SECONDS="4",
        LECTERN_SWEEP_INTERVAL="1",
        LECTERN_BROKER_POLLING_INTERVAL="0.1",
    )
    env.update(extra)
    return env


def production_env(pg_url: str, redis_url: str, meili_url: str, meili_key: str) -> dict[str, str]:
    return {
        "LECTERN_DATABASE_URL": pg_url,
        "LECTERN_BROKER_URL": redis_url,
        "LECTERN_SEARCH_BACKEND": "meilisearch",
        "LECTERN_MEILI_URL": meili_url,
        "LECTERN_MEILI_KEY": meili_key,
        "LECTERN_MEILI_INDEX": f"e2e_{uuid.uuid4().hex[:10]}",
    }


def flush_redis_db(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def pause(seconds: float) -> None:
    time.sleep(seconds)
