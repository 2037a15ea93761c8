"""Stored PDFs, served so they can never be taken for HTML."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from app.repo import files as files_repo
from app.web.deps import CurrentUser, ServicesDep, SessionDep

router = APIRouter(tags=["web: files"])
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@router.get("/files/{sha256}.pdf")
def get_pdf(sha256: str, user: CurrentUser, services: ServicesDep, session: SessionDep):
    if not SHA256.match(sha256):
        raise HTTPException(404, "No such file.")
    file = files_repo.get_file_by_sha256(session, sha256)
    path = services.settings.files_dir / file.relative_path if file else None
    if file is None or path is None or not path.exists():
        raise HTTPException(404, "No such file.")
    return FileResponse(
        path,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{sha256[:12]}.pdf"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=31536000, immutable",
        },
    )


@router.get("/files/{sha256}.png")
def get_thumbnail(sha256: str, user: CurrentUser, services: ServicesDep):
    """The first page's picture the worker rendered next to the PDF."""
    if not SHA256.match(sha256):
        raise HTTPException(404, "No such file.")
    path = services.settings.files_dir / sha256[:2] / sha256[2:4] / f"{sha256}.png"
    if not path.exists():
        raise HTTPException(404, "No such thumbnail.")
    return FileResponse(
        path,
        media_type="image/png",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=31536000, immutable"},
    )
