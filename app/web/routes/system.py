"""Health check for compose and load balancers."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from app.web.deps import SessionDep

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(session: SessionDep) -> dict[str, str]:
    session.execute(text("SELECT 1"))
    return {"status": "ok"}
