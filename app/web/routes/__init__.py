from fastapi import APIRouter

from app.web.routes import (
    auth,
    capture,
    exports,
    files,
    imports,
    items,
    library,
    notes,
    search,
    stats,
    system,
    tags,
    tokens,
)

router = APIRouter()
for module in (auth, library, items, tags, notes, stats, search, files, system, capture, tokens, imports, exports):
    router.include_router(module.router)
