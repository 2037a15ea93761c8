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
# 6-10 µs each. Search and the library, asked most often and as the user types, come first, before
# the API's routes too (AHEAD); the rest after the API.
AHEAD: list[APIRouter] = [search.router, library.router]
ROUTERS: list[APIRouter] = [
    module.router
    for module in (items, auth, tags, notes, stats, files, system, capture, tokens, imports, exports)
]
