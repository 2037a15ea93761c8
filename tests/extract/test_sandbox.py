from pathlib import Path

import pymupdf
import pytest

from app.config import Settings
from app.extract.sandbox import ExtractError, ExtractSandbox, extract_in_child, thumbnail_in_child
from tests.fixtures.fakeweb import make_test_pdf

SHARED = Path(__file__).resolve().parents[3] / "shared" / "pdfs"


@pytest.fixture
def sandbox():
    box = ExtractSandbox()
    yield box
    box.close()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_extract_in_child_returns_the_same_text_as_in_process(tmp_path):
    settings = Settings(data_dir=tmp_path)
    pdf = extract_in_child(SHARED / "zh_thuthesis_manual.pdf", settings)
    assert pdf.page_count == 156
    assert "清华大学" in pdf.pages[0]
    assert thumbnail_in_child(SHARED / "pwl_bitcoin.pdf", settings).startswith(b"\x89PNG")


def test_page_cap_from_settings(tmp_path):
    pdf = extract_in_child(
        SHARED / "zh_thuthesis_manual.pdf", Settings(data_dir=tmp_path, extract_max_pages=3)
    )
    assert len(pdf.pages) == 3 and pdf.truncated


def test_html_saved_as_pdf_is_not_a_pdf(sandbox, tmp_path):
    path = write(tmp_path, "paper.pdf", b"<!DOCTYPE html><html><body>Sign in</body></html>")
    with pytest.raises(ExtractError, match="not a PDF: the file is a web page") as caught:
        sandbox.extract(path)
    assert caught.value.kind == "not_pdf"


def test_garbage_is_not_a_pdf(sandbox, tmp_path):
    with pytest.raises(ExtractError, match="not a PDF") as caught:
        sandbox.extract(write(tmp_path, "g.pdf", bytes(range(256)) * 40))
    assert caught.value.kind == "not_pdf"


def test_garbage_after_a_pdf_header_is_damaged(sandbox, tmp_path):
    with pytest.raises(ExtractError, match="damaged or corrupt") as caught:
        sandbox.extract(write(tmp_path, "g.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40))
    assert caught.value.kind == "damaged"


def test_pdf_truncated_before_its_pages_is_damaged(sandbox, tmp_path):
    data = make_test_pdf(["one " * 200, "two", "three"])
    with pytest.raises(
        ExtractError, match=r"damaged or corrupt \(MuPDF could not open it\)"
    ) as caught:
        sandbox.extract(write(tmp_path, "t.pdf", data[:300]))
    assert caught.value.kind == "damaged"
    assert str(tmp_path) not in str(caught.value)


def test_pdf_truncated_at_the_end_is_repaired_by_mupdf(sandbox, tmp_path):
    data = make_test_pdf(["one " * 200, "two", "three"])
    pdf = sandbox.extract(write(tmp_path, "t.pdf", data[:-100]))
    assert "one one" in pdf.pages[0]


def test_password_protected_pdf_is_refused_with_a_clear_message(sandbox, tmp_path):
    doc = pymupdf.open(stream=make_test_pdf(["secret"]), filetype="pdf")
    data = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", user_pw="user")
    with pytest.raises(ExtractError, match="password-protected") as caught:
        sandbox.extract(write(tmp_path, "e.pdf", data))
    assert caught.value.kind == "encrypted"


def test_owner_password_only_pdf_still_extracts(sandbox, tmp_path):
    doc = pymupdf.open(stream=make_test_pdf(["readable 可读"]), filetype="pdf")
    data = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", permissions=0)
    assert "可读" in sandbox.extract(write(tmp_path, "o.pdf", data)).pages[0]


def test_tiny_timeout_times_out_and_the_next_pdf_still_works(sandbox):
    with pytest.raises(ExtractError, match=r"timed out after 0.01 s") as caught:
        sandbox.extract(SHARED / "zh_thuthesis_manual.pdf", timeout=0.01)
    assert caught.value.kind == "timeout"
    assert sandbox.extract(SHARED / "pwl_bitcoin.pdf").page_count == 9


def test_memory_limit_reports_running_out_of_memory(sandbox):
    with pytest.raises(ExtractError, match="ran out of memory") as caught:
        sandbox.extract(SHARED / "zh_thuthesis_manual.pdf", memory_mb=60)
    assert caught.value.kind == "memory"
    assert sandbox.extract(SHARED / "pwl_bitcoin.pdf").page_count == 9


def test_file_larger_than_the_cap_is_refused_before_parsing(sandbox):
    with pytest.raises(ExtractError, match="more than the") as caught:
        sandbox.extract(SHARED / "pwl_copysets.pdf", max_bytes=1000)
    assert caught.value.kind == "too_large"


def test_crashed_child_is_reported_and_replaced(sandbox):
    sandbox.start()
    sandbox._proc.kill()  # stands in for MuPDF dying on SIGSEGV
    sandbox._proc.wait()
    # A dead child is noticed before the next request and replaced.
    assert sandbox.extract(SHARED / "pwl_bitcoin.pdf").page_count == 9


def test_missing_file(sandbox, tmp_path):
    with pytest.raises(ExtractError, match="could not be read") as caught:
        sandbox.extract(tmp_path / "nope.pdf")
    assert caught.value.kind == "missing"
