"""What the web layer costs whatever the engine: requests answered by the app in this process.

    .venv/bin/python bench/floor_bench.py                 # 2,000 requests per path
    .venv/bin/python bench/floor_bench.py --runs 500

Creates the app (embedded default, an empty library in a temporary data directory), logs in and
makes an API token, then sends each path in turn through httpx's ASGI transport: no server, no
socket, so what is timed is FastAPI's routing and dependencies, the thread pool, the login check,
the template and the middleware. Paths:

- healthz:  GET /healthz (a session and SELECT 1, no login);
- ping:     GET /api/v1/ping with a bearer token (the limit of figures 1 and 3);
- fragment: GET /search?q= with HX-Request (the results fragment without a search: the floor of
            figure 2 on either backend).

A before/after is two runs on two checkouts, alternated: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "floor-bench-password"


async def measure(runs: int) -> dict[str, list[float]]:
    from app.config import Settings
    from app.main import create_app
    from app.services import auth

    with tempfile.TemporaryDirectory(prefix="lectern-floor-") as tmp:
        settings = Settings(data_dir=Path(tmp), password=PASSWORD)
        app = create_app(settings)
        services = app.state.services
        async with app.router.lifespan_context(app):
            with services.factory() as session:
                owner = auth.check_login(session, PASSWORD)
                assert owner is not None
                token = auth.create_api_token(session, owner, "floor bench").plaintext
                session.commit()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                login = await client.post("/login", data={"password": PASSWORD, "next": "/"})
                if login.status_code not in (200, 303):
                    raise SystemExit(f"login failed: {login.status_code}")
                paths = {
                    "healthz": ("/healthz", {}),
                    "ping": ("/api/v1/ping", {"Authorization": f"Bearer {token}"}),
                    "fragment": ("/search?q=", {"HX-Request": "true"}),
                }
                times: dict[str, list[float]] = {name: [] for name in paths}
                for i in range(runs + 100):  # the first 100 rounds warm up
                    for name, (path, headers) in paths.items():
                        started = time.perf_counter()
                        response = await client.get(path, headers=headers)
                        elapsed = (time.perf_counter() - started) * 1000
                        if response.status_code != 200:
                            raise SystemExit(f"GET {path}: {response.status_code}")
                        if i >= 100:
                            times[name].append(elapsed)
                return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2000, help="requests timed per path")
    args = ap.parse_args()
    times = asyncio.run(measure(args.runs))
    print(f"\nIn-process requests, ms ({args.runs} per path, interleaved)")
    print(f"{'path':<10}{'p50':>8}{'p95':>8}")
    for name, xs in times.items():
        xs.sort()
        print(f"{name:<10}{statistics.median(xs):>8.2f}{xs[int(len(xs) * 0.95)]:>8.2f}")


if __name__ == "__main__":
    main()
