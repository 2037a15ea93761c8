"""Throwaway Redis and Meilisearch servers a test can stop and start again on the same port."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx

from tests.fixtures.meili import meili_binary
from tests.fixtures.services import free_port, port_open, service_missing


class Restartable:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        return port_open("127.0.0.1", self.port)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not self.ready():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"{type(self).__name__} did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while port_open("127.0.0.1", self.port) and time.monotonic() < deadline:
            time.sleep(0.05)


class RedisServer(Restartable):
    def __init__(self) -> None:
        super().__init__()
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            service_missing("the redis-server binary")

    def command(self) -> list[str]:
        return [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class MeiliServer(Restartable):
    KEY = "fault-test-master-key-0123456789"

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.binary = meili_binary()
        if self.binary is None:
            service_missing("the Meilisearch binary (./dev setup installs it from npm)")
        self.db_path = db_path

    def command(self) -> list[str]:
        # Dumps and snapshots beside the database: by default they go in the working directory.
        return [str(self.binary), "--http-addr", f"127.0.0.1:{self.port}", "--db-path", str(self.db_path),
                "--dump-dir", str(self.db_path.parent / "dumps"),
                "--snapshot-dir", str(self.db_path.parent / "snapshots"),
                "--master-key", self.KEY, "--no-analytics", "--env", "development"]

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
