"""bench's kept-alive client (KeptAlive, and RawSearch through the same kept_alive): a server
closes a connection left idle, and the next request goes out on a new one instead of failing."""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn

from bench.meili_bench import KeptAlive
from tests.fixtures.app import wait_for
from tests.fixtures.services import free_port


async def _hello(scope, receive, send) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


def test_a_request_after_the_server_closed_the_idle_connection_goes_out_on_a_new_one():
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_hello, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", timeout_keep_alive=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30, what="uvicorn to start")
    try:
        client = KeptAlive(f"http://127.0.0.1:{port}", httpx.Cookies(), {})
        assert client.get("/") == (200, "hello")
        first = client.conn.sock
        time.sleep(2)  # uvicorn closes the connection after 1 s idle
        assert client.get("/") == (200, "hello")
        assert client.conn.sock is not first  # a new connection
        client.close()
    finally:
        server.should_exit = True
        thread.join(timeout=15)
