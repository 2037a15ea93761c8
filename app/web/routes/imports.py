"""The import page: upload a file, watch the worker's progress, read the summary."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from app.repo import imports as imports_repo
from app.services.imports import IMPORTERS
from app.services.imports.base import UnreadableFile
from app.services.imports.run import start_import
from app.web.deps import CsrfProtected, CurrentUser, ServicesDep, SessionDep
from app.web.render import is_htmx, render

router = APIRouter(tags=["web: imports"])


def _page(request: Request, session, status_code: int = 200, **extra):
    ctx = {"importers": IMPORTERS, "jobs": imports_repo.recent_jobs(session), **extra}
    return render(request, "imports/page.html", ctx, status_code=status_code)


@router.get("/imports")
def imports_page(request: Request, user: CurrentUser, session: SessionDep):
    return _page(request, session)


@router.post("/imports", dependencies=[CsrfProtected])
async def upload_import(
    request: Request, user: CurrentUser, services: ServicesDep, session: SessionDep,
    file: Annotated[UploadFile, File()], format: Annotated[str, Form()] = "bibtex",
):
    data = await file.read()

    def start():  # reading the file and the database: on the thread pool, not the event loop
        try:
            job = start_import(services.factory, services.settings, services.jobs, format, file.filename or "", data)
        except (UnreadableFile, ValueError) as exc:
            return _page(request, session, status_code=400, error=str(exc))
        if is_htmx(request):
            return render(request, "imports/_job.html", {"job": job})
        return RedirectResponse(f"/imports/{job.id}", status_code=303)

    return await run_in_threadpool(start)


@router.get("/imports/{job_id}")
def import_job(request: Request, job_id: int, user: CurrentUser, session: SessionDep):
    job = imports_repo.get_job(session, job_id) if 0 < job_id < 2**31 else None
    if job is None:
        raise HTTPException(404, "No such import.")
    return render(request, "imports/job.html", {"job": job}, fragment="imports/_job.html")
