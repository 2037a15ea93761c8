"""Hostile and odd PDFs through the whole pipeline: each ends in a clear status on its item, and the
next ordinary PDF is processed as usual."""

from __future__ import annotations

import time
import zlib

import pymupdf
import pytest

from app.db import make_engine, make_session_factory
from app.ingest.http import SafeClient
from app.ingest.pipeline import process_item
from app.ingest.registry import default_resolvers
from app.migrate import upgrade_database
from app.models import Item
from app.search.embedded import EmbeddedBackend
from app.services.items import SaveRequest, save_item
from app.services.jobs import NoJobQueue
from tests.fixtures.fakeweb import make_test_pdf, settings_for

SCANNED = "/work/shared/pdfs/pwl_flajolet_scanned.pdf"


def _raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF written by hand (with a correct xref), for structures no library would write."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def looping_pdf() -> bytes:
    # The page tree's Kids point back at the tree itself.
    return _raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"])


def bomb_pdf() -> bytes:
    # One page whose content stream inflates from ~0.15 MB to 150 MB.
    content = zlib.compress(b" " * 150_000_000, 9)
    return _raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
    ])


def encrypted_pdf() -> bytes:
    doc = pymupdf.open(stream=make_test_pdf(["secret text"]), filetype="pdf")
    data = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="user", owner_pw="owner")
    doc.close()
    return data


def many_pages_pdf(n: int) -> bytes:
    """n pages sharing one content stream and font, written by hand (a library takes minutes)."""
    first_page = 5
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(n))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length 38 >>\nstream\nBT /F1 12 Tf 20 100 Td (a page) Tj ET\nendstream",
    ]
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R /Resources << /Font << /F1 3 0 R >> >> >>"
    return _raw_pdf(objects + [page] * n)


@pytest.fixture
def pipeline(tmp_path, fakeweb):
    settings = settings_for(fakeweb, tmp_path, extract_timeout=15.0, extract_max_pages=200,
                            extract_max_memory_mb=800)
    engine = make_engine(settings)
    upgrade_database(engine)
    factory = make_session_factory(engine)
    search = EmbeddedBackend(settings.search_db_path)
    search.setup()

    def run(name: str, data: bytes, content_type: str = "application/pdf") -> Item:
        url = fakeweb.add(f"/{name}.pdf", data, content_type)
        item_id = save_item(factory, NoJobQueue(), SaveRequest(url=url)).item.id
        process_item(item_id=item_id, owner="w", settings=settings, factory=factory, http=SafeClient(settings),
                     resolvers=default_resolvers(settings), search=search)
        with factory() as s:
            return s.get(Item, item_id)

    yield run
    search.close()
    engine.dispose()


GOOD = make_test_pdf(["An ordinary paper about echidnas."])
FULL = make_test_pdf(["page one", "page two", "page three"])


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("truncated", FULL[: len(FULL) // 3], "damaged"),
        ("garbage", b"%PDF-1.4\n" + bytes(range(256)) * 40, "damaged"),
        ("encrypted", None, "password"),
        ("looping", None, ""),
    ],
)
def test_broken_pdfs_fail_with_a_clear_message_and_the_next_one_works(pipeline, name, data, expected):
    data = data if data is not None else {"encrypted": encrypted_pdf, "looping": looping_pdf}[name]()
    item = pipeline(name, data)
    assert item.status == "failed", (item.status, item.error)
    assert item.error and "Traceback" not in item.error and "Internal error" not in item.error
    assert expected.lower() in item.error.lower()
    assert pipeline("after-" + name, GOOD).status == "ready"


def test_decompression_bomb_ends_in_a_clear_status_within_the_limits(pipeline):
    started = time.monotonic()
    item = pipeline("bomb", bomb_pdf())
    assert time.monotonic() - started < 60
    assert item.status in ("ready", "failed")
    if item.status == "failed":
        assert "Internal error" not in item.error and item.error
    assert pipeline("after-bomb", GOOD).status == "ready"


def test_scanned_pdf_is_ready_and_says_it_has_no_text_layer(pipeline):
    with open(SCANNED, "rb") as fh:
        item = pipeline("scanned", fh.read())
    assert item.status == "ready" and item.extra.get("notice") == "no text layer"


def test_five_thousand_pages_are_capped_and_the_item_says_so(pipeline):
    item = pipeline("huge", many_pages_pdf(5000))
    assert item.status == "ready"
    assert "first 200 of 5000 pages" in item.extra.get("notice", "")
