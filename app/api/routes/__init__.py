from fastapi import APIRouter

from app.api.routes import items, notes, search, system, tags

router = APIRouter(prefix="/api/v1")
router.include_router(items.router)
router.include_router(search.router)
router.include_router(tags.router)
router.include_router(notes.router)
router.include_router(system.router)
