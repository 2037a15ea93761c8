"""A trivial authenticated endpoint: the floor every other API request is measured against."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ApiUser

router = APIRouter(tags=["system"])


@router.get("/ping")
async def ping(user: ApiUser) -> dict[str, str]:
    """Answers once the token is checked; does nothing else (benchmarks use it as their limit).
    On the event loop: the token's look-up is its only trip through the thread pool."""
    return {"status": "ok"}
