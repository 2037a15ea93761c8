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

# Included one by one into the app (app.main), not through one router of routers: FastAPI matches a
# request against every route before the one it is for, and a nested router's routes twice, about
# 10 µs each. Search and the library, asked most often and as the user types, come first.
ROUTERS: list[APIRouter] = [
    module.router
    for module in (search, library, items, auth, tags, notes, stats, files, system, capture, tokens, imports, exports)
]
