from pathlib import Path

import pytest

from app.extract.pdf import extract_pdf, metadata_from_pdf, render_thumbnail
from tests.fixtures.fakeweb import make_test_pdf

SHARED = Path(__file__).resolve().parents[3] / "shared" / "pdfs"
ALL_PDFS = sorted(SHARED.glob("*.pdf"))


def test_the_shared_pdfs_are_there():
    assert len(ALL_PDFS) == 17


@pytest.mark.parametrize("path", ALL_PDFS, ids=lambda p: p.name)
def test_every_shared_pdf_extracts_one_text_per_page(path):
    pdf = extract_pdf(path)
    assert pdf.page_count > 0
    assert len(pdf.pages) == pdf.page_count
    assert not pdf.truncated
    if "scanned" not in path.name:
        assert pdf.has_text_layer
        assert sum(len(p) for p in pdf.pages) > 1000
    assert not any("\x00" in page for page in pdf.pages)  # PostgreSQL text cannot hold NUL


def test_pages_with_nul_in_the_pdf_store_on_both_databases(db_factory):
    """pwl_tor.pdf (and five other shared papers) put NUL characters in MuPDF's text."""
    from app.models import File
    from app.repo import files as files_repo

    pdf = extract_pdf(SHARED / "pwl_tor.pdf")
    with db_factory() as session:
        stored = files_repo.add_file(session, File(sha256="0" * 64, mime="application/pdf", size=1,
                                                   page_count=pdf.page_count))
        files_repo.replace_pages(session, stored.id, pdf.pages)
        session.commit()
        assert files_repo.page_texts(session, stored.id) == pdf.pages


def test_chinese_manual_yields_chinese_text_and_its_metadata_title():
    pdf = extract_pdf(SHARED / "zh_thuthesis_manual.pdf")
    text = "".join(pdf.pages)
    assert "清华大学" in text
    assert "学位论文" in pdf.title
    assert pdf.page_count == 156


def test_scanned_paper_has_no_text_layer():
    pdf = extract_pdf(SHARED / "pwl_flajolet_scanned.pdf")
    assert pdf.page_count == 28
    assert pdf.has_text_layer is False


def test_title_and_authors_are_guessed_from_the_first_page_when_metadata_has_none():
    pdf = extract_pdf(SHARED / "pwl_spanner.pdf")
    assert pdf.title == ""
    assert pdf.title_guess == "Spanner: Google’s Globally-Distributed Database"
    assert pdf.authors_guess[:2] == ["James C. Corbett", "Jeffrey Dean"]
    title, authors, arxiv_id = metadata_from_pdf(pdf)
    assert title == pdf.title_guess and authors == pdf.authors_guess and arxiv_id is None


def test_two_column_paper_keeps_columns_apart():
    # sort=True would interleave the two columns line by line; the default keeps each block whole.
    first_page = extract_pdf(SHARED / "pwl_zookeeper.pdf").pages[0]
    assert "Abstract" in first_page
    assert "In this paper, we describe ZooKeeper" in " ".join(first_page.split())


def test_arxiv_stamp_on_the_first_page_gives_the_id():
    assert extract_pdf(SHARED / "pwl_sparse_dim_reduction.pdf").arxiv_id == "1311.2542"
    assert extract_pdf(SHARED / "pwl_understanding_dcn.pdf").arxiv_id == "1601.04920"


def test_generated_pdf_round_trips_english_and_chinese(tmp_path):
    path = tmp_path / "t.pdf"
    path.write_bytes(
        make_test_pdf(
            [
                "We study diffusion. 我们研究扩散模型。" + " Body text of the paper." * 30,
                "Page two 第二页",
            ],
            title="Large Language Diffusion Models",
            authors=["Shen Nie", "Fengqi Zhu"],
            arxiv_stamp="arXiv:2502.09992v2  [cs.CL]  14 Feb 2025",
        )
    )
    pdf = extract_pdf(path)
    assert pdf.page_count == 2
    assert "我们研究扩散模型" in pdf.pages[0]
    assert "第二页" in pdf.pages[1]
    assert pdf.title_guess == "Large Language Diffusion Models"
    assert pdf.authors_guess == ["Shen Nie", "Fengqi Zhu"]
    assert pdf.arxiv_id == "2502.09992"


def test_page_cap_extracts_only_the_first_pages():
    pdf = extract_pdf(SHARED / "zh_thuthesis_manual.pdf", max_pages=5)
    assert pdf.page_count == 156
    assert len(pdf.pages) == 5
    assert pdf.truncated


def test_junk_metadata_title_is_ignored(tmp_path):
    path = tmp_path / "t.pdf"
    path.write_bytes(
        make_test_pdf(
            ["body text " * 50], title="A Real Title", metadata_title="Microsoft Word - draft3.docx"
        )
    )
    pdf = extract_pdf(path)
    assert pdf.title == ""
    assert metadata_from_pdf(pdf)[0] == "A Real Title"


def test_thumbnail_is_a_png_of_the_requested_width():
    png = render_thumbnail(SHARED / "pwl_bitcoin.pdf", width=240)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(png[16:20], "big")
    assert width == 240


@pytest.mark.parametrize(
    ("pages", "expected"),
    [
        ([], False),
        (["word " * 3], False),  # 12 characters: fewer than 20 in all
        (["abcd " * 5], True),  # 20 characters on one page
        (["", "", "", "x" * 39], False),  # 4 pages need 40
        (["", "", "", "x" * 40], True),  # all on the last page still counts
        (["x" * 15, " \n\t" * 50, "y" * 15], True),  # whitespace is not counted, pages add up
        (["x" * 15, " \n\t" * 50, "y" * 14], False),
    ],
)
def test_text_layer_needs_ten_characters_a_page_and_twenty_in_all(pages, expected):
    from app.extract.pdf import _has_text_layer

    assert _has_text_layer(pages) is expected


def test_text_layer_check_stops_reading_pages_once_there_are_enough_characters():
    """A paper's page 1 settles it: the 155 pages after it are not counted (counting every page
    of the 17 shared PDFs cost 1.3% of extraction)."""
    from app.extract.pdf import _has_text_layer

    class Unread(str):
        def split(self, *args, **kwargs):
            raise AssertionError("a page after the answer was known was read")

    assert _has_text_layer(["word " * 400] + [Unread("x" * 100)] * 155) is True
