"""The pipeline renders a PDF's first page once, next to the PDF, and never fails an item for it."""

from __future__ import annotations

import pymupdf

from app.ingest.pipeline import DEFAULT_STEPS, Job, ThumbnailStep
from app.models import Item
from app.services.items import store_pdf_bytes


def _job(settings, path) -> Job:
    return Job(item_id=1, settings=settings, factory=None, http=None, resolvers=(), search=None,  # type: ignore[arg-type]
               report=lambda status: None, pdf_path=path)


def test_thumbnail_is_written_next_to_the_pdf_once(settings):
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "A paper")
    _, path = store_pdf_bytes(settings, doc.tobytes())
    step, job, item = ThumbnailStep(), _job(settings, path), Item(id=1)
    assert any(isinstance(s, ThumbnailStep) for s in DEFAULT_STEPS)
    assert step.able_to_run(job, item)
    step.run(job, item, None)  # type: ignore[arg-type]
    png = path.with_suffix(".png")
    assert png.read_bytes().startswith(b"\x89PNG")
    assert not step.able_to_run(job, item)  # rendered once


def test_a_damaged_pdf_gets_no_thumbnail_and_no_error(settings):
    _, path = store_pdf_bytes(settings, b"%PDF-1.7\nnot really a pdf")
    step, job = ThumbnailStep(), _job(settings, path)
    step.run(job, Item(id=1), None)  # type: ignore[arg-type]
    assert not path.with_suffix(".png").exists()
