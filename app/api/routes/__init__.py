from fastapi import APIRouter

from app.api.routes import items, notes, search, system, tags
from app.api.schemas import ErrorOut

# Any call may meet the wrong-token throttle (app.api.deps).
THROTTLED = {429: {"model": ErrorOut, "description": "Too many wrong API tokens from this address; see Retry-After."}}

PREFIX = "/api/v1"
# Included one by one into the app under PREFIX (see app.web.routes.ROUTERS for why).
ROUTERS: list[APIRouter] = [items.router, search.router, tags.router, notes.router, system.router]
