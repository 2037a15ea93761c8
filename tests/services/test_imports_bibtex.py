"""BibTeX imports: realistic exports from Zotero, Google Scholar and arXiv, broken entries, re-runs,
a zip with the PDFs, and unsafe zips."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import select

from app.models import File, ImportJob, Item, Tag
from app.services.imports.base import Skipped
from app.services.imports.bibtex import BibtexImporter
from app.services.imports.run import run_import_job, start_import
from app.services.imports.zipsafe import SafeZip, UnsafeZip
from app.services.jobs import NoJobQueue
from tests.fixtures.fakeweb import make_test_pdf

# As Zotero's "Export Collection... > BibTeX" writes it (file paths relative to the export folder).
ZOTERO = r"""
@article{nie_large_2025,
	title = {Large {Language} {Diffusion} {Models}},
	url = {http://arxiv.org/abs/2502.09992},
	doi = {10.48550/arXiv.2502.09992},
	abstract = {Autoregressive models ({ARMs}) are widely regarded as the cornerstone of large language models.},
	urldate = {2025-03-01},
	publisher = {arXiv},
	author = {Nie, Shen and Zhu, Fengqi and You, Zebin and Zhang, Xiaolu},
	month = feb,
	year = {2025},
	note = {arXiv:2502.09992 [cs]},
	keywords = {Computer Science - Machine Learning, diffusion},
	file = {Preprint PDF:files/7/Nie et al. - 2025 - Large Language Diffusion Models.pdf:application/pdf},
}

@inproceedings{ho_denoising_2020,
	title = {Denoising {Diffusion} {Probabilistic} {Models}},
	volume = {33},
	booktitle = {Advances in {Neural} {Information} {Processing} {Systems}},
	author = {Ho, Jonathan and Jain, Ajay and Abbeel, Pieter},
	year = {2020},
	pages = {6840--6851},
	keywords = {diffusion},
}
"""

# Google Scholar's "Import into BibTeX" snippet: no DOI, no URL.
SCHOLAR = """@article{song2020score,
  title={Score-based generative modeling through stochastic differential equations},
  author={Song, Yang and Sohl-Dickstein, Jascha and Kingma, Diederik P and Kumar, Abhishek and Ermon, Stefano and Poole, Ben},
  journal={arXiv preprint arXiv:2011.13456},
  year={2020}
}
@book{goodfellow2016deep,
  title={Deep learning},
  author={Goodfellow, Ian and Bengio, Yoshua and Courville, Aaron and Bengio, Yoshua},
  volume={1},
  year={2016},
  publisher={MIT press Cambridge}
}
"""

# arXiv's "Export BibTeX citation".
ARXIV = """@misc{vaswani2023attentionneed,
      title={Attention Is All You Need},
      author={Ashish Vaswani and Noam Shazeer and Niki Parmar and Jakob Uszkoreit and Llion Jones and Aidan N. Gomez and Lukasz Kaiser and Illia Polosukhin},
      year={2023},
      eprint={1706.03762},
      archivePrefix={arXiv},
      primaryClass={cs.CL},
      url={https://arxiv.org/abs/1706.03762},
}
"""

BROKEN = r"""
@article{unclosed,
  title = {This brace never closes,
  year = 2020

@article{fine2021, title = {A Fine Entry After the Broken One}, author = {M{\"u}ller, J{\"o}rg}, year = 2021, doi = {10.1000/XYZ123}}
@misc{empty_one, year = 2020}
@article{bad_field, title = {Ok} author = {missing comma}}
@article{last2022, title = "Quoted {Title} with \& ampersand", year = 2022, url = {https://example.org/last}}
"""


def parse(text: str):
    return list(BibtexImporter().parse(text.encode()))


def test_zotero_scholar_and_arxiv_entries_map_to_identities_tags_and_authors():
    nie, ho = parse(ZOTERO)
    assert nie.arxiv_id == "2502.09992" and nie.ref == "arXiv:2502.09992"
    assert nie.title == "Large Language Diffusion Models"
    assert nie.authors[:2] == ["Shen Nie", "Fengqi Zhu"]
    assert nie.published_at.isoformat() == "2025-02-01"
    assert nie.tags == ["Computer Science - Machine Learning", "diffusion"]
    assert nie.abstract.startswith("Autoregressive models (ARMs)")
    assert nie.pdf_paths == ["files/7/Nie et al. - 2025 - Large Language Diffusion Models.pdf"]
    assert ho.ref == "" and ho.extra["venue"] == "Advances in Neural Information Processing Systems"
    song, book = parse(SCHOLAR)
    assert song.arxiv_id == "2011.13456" and len(song.authors) == 6
    assert book.ref == "" and book.published_at.year == 2016
    (attention,) = parse(ARXIV)
    assert attention.arxiv_id == "1706.03762" and attention.authors[-1] == "Illia Polosukhin"
    # arXiv's own DOI alone names the preprint; another DOI names no arXiv id.
    doi_only, other = parse("@misc{a, doi = {https://doi.org/10.48550/arXiv.2502.09992v2}}\n"
                            "@misc{b, doi = {10.1145/3600006.3613165}}")
    assert (doi_only.arxiv_id, doi_only.ref) == ("2502.09992", "arXiv:2502.09992")
    assert (other.arxiv_id, other.ref) == (None, "10.1145/3600006.3613165")


def test_malformed_entries_are_reported_and_the_rest_still_parse():
    values = parse(BROKEN)
    entries = [v for v in values if not isinstance(v, Skipped)]
    skipped = [v for v in values if isinstance(v, Skipped)]
    assert [e.label for e in entries] == ["fine2021", "last2022"]
    assert entries[0].authors == ["Jörg Müller"] and entries[0].doi == "10.1000/xyz123"
    assert entries[1].title == "Quoted Title with & ampersand"
    reasons = {s.entry.split(" ")[0]: s.reason for s in skipped}
    assert set(reasons) == {"unclosed", "empty_one", "bad_field"}
    assert "malformed" in reasons["unclosed"] and "no title" in reasons["empty_one"]


def _run(factory, settings, fmt, name, data):
    job = start_import(factory, settings, NoJobQueue(), fmt, name, data)
    return run_import_job(factory, settings, job.id)


def test_import_creates_queued_items_and_a_rerun_creates_nothing(db_factory, db_settings):
    data = (ZOTERO + SCHOLAR + ARXIV + BROKEN).encode()
    job = _run(db_factory, db_settings, "bibtex", "library.bib", data)
    assert job.status == "done", job.error
    assert (job.created, job.merged, len(job.skipped)) == (7, 0, 3)
    with db_factory() as session:
        items = {i.title: i for i in session.scalars(select(Item))}
        assert items["Large Language Diffusion Models"].status == "queued"
        assert items["Large Language Diffusion Models"].canonical_url == "https://arxiv.org/abs/2502.09992"
        assert items["Deep learning"].status == "ready"  # nothing to fetch: a book with no link
        assert {t.name for t in session.scalars(select(Tag))} >= {"diffusion", "Computer Science - Machine Learning"}
    again = _run(db_factory, db_settings, "bibtex", "library.bib", data)
    assert (again.created, again.merged) == (0, 7)
    with db_factory() as session:
        assert len(session.scalars(select(Item)).all()) == 7
        assert len(session.scalars(select(ImportJob)).all()) == 2


def test_an_entry_already_saved_is_merged_and_gets_the_tags(db_factory, db_settings):
    from app.services.items import SaveRequest, save_item

    saved = save_item(db_factory, NoJobQueue(), SaveRequest(url="https://arxiv.org/pdf/1706.03762v7")).item
    job = _run(db_factory, db_settings, "bibtex", "a.bib", ARXIV.replace("}\n}", "},\n keywords={transformers}\n}").encode())
    assert (job.created, job.merged) == (0, 1)
    with db_factory() as session:
        item = session.get(Item, saved.id)
        assert item.title == "Attention Is All You Need" and len(item.authors) == 8


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_a_zip_upload_attaches_the_pdfs_the_entries_name(db_factory, db_settings):
    pdf = make_test_pdf(["Large language diffusion"], title="LLaDA")
    data = _zip({"Exported Items.bib": ZOTERO.encode(),
                 "files/7/Nie et al. - 2025 - Large Language Diffusion Models.pdf": pdf})
    job = _run(db_factory, db_settings, "bibtex", "export.zip", data)
    assert job.status == "done" and job.created == 2
    with db_factory() as session:
        item = session.scalars(select(Item).where(Item.arxiv_id == "2502.09992")).one()
        file = session.get(File, item.file_id)
        assert (db_settings.files_dir / file.relative_path).read_bytes() == pdf


@pytest.mark.parametrize("name", ["../evil.bib", "/etc/evil.bib", "a/../../evil.bib", "C:/evil.bib"])
def test_zip_members_escaping_the_archive_are_refused(name):
    with pytest.raises(UnsafeZip):
        SafeZip(_zip({name: b"@misc{x, title={x}}"}))


def test_zip_symlinks_and_bombs_are_refused(db_factory, db_settings):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.bib")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeZip, match="link"):
        SafeZip(buf.getvalue())
    bomb = _zip({"big.bib": b"\0" * (50 * 1024 * 1024)})
    assert len(bomb) < 200_000
    with pytest.raises(UnsafeZip, match="ratio"):
        SafeZip(bomb)
    with pytest.raises(UnsafeZip, match="more than"):
        SafeZip(_zip({"a.bib": b"x" * 5000}), max_total=1000)
    job = _run(db_factory, db_settings, "bibtex", "bomb.zip", bomb)
    assert job.status == "failed" and "ratio" in job.error
