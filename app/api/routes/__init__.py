from fastapi import APIRouter

from app.api.routes import items, search

router = APIRouter(prefix="/api/v1")
router.include_router(items.router)
router.include_router(search.router)
