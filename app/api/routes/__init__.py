from fastapi import APIRouter

from app.api.routes import items, notes, search, system, tags
from app.api.schemas import ErrorOut

# Any call may meet the wrong-token throttle (app.api.deps).
THROTTLED = {429: {"model": ErrorOut, "description": "Too many wrong API tokens from this address; see Retry-After."}}

router = APIRouter(prefix="/api/v1", responses=THROTTLED)
router.include_router(items.router)
router.include_router(search.router)
router.include_router(tags.router)
router.include_router(notes.router)
router.include_router(system.router)
