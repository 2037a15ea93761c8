from fastapi import APIRouter

from app.web.routes import auth, files, items, search, system

router = APIRouter()
for module in (auth, items, search, files, system):
    router.include_router(module.router)
