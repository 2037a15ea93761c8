"""DOI (Crossref) and OpenReview resolvers against a local server answering as those services do.

The Crossref answer follows the shape of https://api.crossref.org/works/{doi} (see Crossref's REST
API documentation): a ``{"status": "ok", "message-type": "work", "message": {...}}`` envelope with
list-valued titles, JATS abstracts, date-parts and deposited full-text links. The OpenReview answer
follows API v2's ``/notes?id=`` (every content field wrapped as ``{"value": ...}``) and API v1's
bare values.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from app.ingest.base import ResolveContext, ResolveError
from app.ingest.http import SafeClient
from app.ingest.registry import default_resolvers, identify_url, pick_resolver
from app.ingest.resolvers.doi import jats_to_text, parse_crossref_work
from app.ingest.resolvers.openreview import forum_id_of, resolved_from_note
from tests.fixtures.fakeweb import make_test_pdf, settings_for

DOI = "10.1145/3600006.3613165"
FORUM = "Cz9zjzyC5A"


def crossref_work(doi: str = DOI, links: list[dict] | None = None) -> dict:
    return {
        "status": "ok",
        "message-type": "work",
        "message-version": "1.0.0",
        "message": {
            "indexed": {"date-parts": [[2025, 3, 1]], "date-time": "2025-03-01T05:12:01Z", "timestamp": 1740805921000},
            "publisher-location": "New York, NY, USA",
            "reference-count": 71,
            "publisher": "ACM",
            "license": [{"start": {"date-parts": [[2023, 10, 23]], "date-time": "2023-10-23T00:00:00Z",
                                   "timestamp": 1698019200000},
                         "content-version": "vor", "delay-in-days": 0,
                         "URL": "http://creativecommons.org/licenses/by/4.0/"}],
            "content-domain": {"domain": ["dl.acm.org"], "crossmark-restriction": True},
            "short-container-title": [],
            "published-print": {"date-parts": [[2023, 10, 23]]},
            "DOI": doi.upper().replace("10.1145", "10.1145"),
            "type": "proceedings-article",
            "created": {"date-parts": [[2023, 10, 3]], "date-time": "2023-10-03T14:12:22Z", "timestamp": 1696342342000},
            "page": "611-626",
            "source": "Crossref",
            "is-referenced-by-count": 1412,
            "title": ["Efficient Memory Management for Large Language Model Serving with <i>PagedAttention</i>"],
            "prefix": "10.1145",
            "author": [
                {"given": "Woosuk", "family": "Kwon", "sequence": "first",
                 "affiliation": [{"name": "UC Berkeley"}]},
                {"given": "Zhuohan", "family": "Li", "sequence": "additional", "affiliation": []},
                {"name": "The vLLM Team", "sequence": "additional", "affiliation": []},
            ],
            "member": "320",
            "published-online": {"date-parts": [[2023, 10, 23]]},
            "event": {"name": "SOSP '23: 29th Symposium on Operating Systems Principles",
                      "location": "Koblenz Germany", "acronym": "SOSP '23"},
            "container-title": ["Proceedings of the 29th Symposium on Operating Systems Principles"],
            "link": links if links is not None else [],
            "deposited": {"date-parts": [[2023, 10, 23]]},
            "score": 1,
            "resource": {"primary": {"URL": f"https://dl.acm.org/doi/{doi}"}},
            "subtitle": [],
            "abstract": "<jats:title>Abstract</jats:title><jats:p>High throughput serving of large "
                        "language models (LLMs) requires batching &amp; memory.</jats:p>"
                        "<jats:p>We propose <jats:italic>PagedAttention</jats:italic>.</jats:p>",
            "issued": {"date-parts": [[2023, 10, 23]]},
            "ISBN": ["9798400702297"],
            "URL": f"https://doi.org/{doi}",
            "published": {"date-parts": [[2023, 10, 23]]},
        },
    }


def openreview_v2_note(forum: str = FORUM, with_pdf: bool = True) -> dict:
    content = {
        "title": {"value": "Large Language Diffusion Models"},
        "authors": {"value": ["Shen Nie", "Fengqi Zhu", "Zebin You"]},
        "authorids": {"value": ["~Shen_Nie1", "~Fengqi_Zhu1", "~Zebin_You1"]},
        "keywords": {"value": ["diffusion language models", "masked diffusion"]},
        "TLDR": {"value": "A diffusion model trained from scratch rivals autoregressive LLMs."},
        "abstract": {"value": "Autoregressive models are widely regarded as the cornerstone of LLMs."},
        "primary_area": {"value": "generative models"},
        "venue": {"value": "ICLR 2026 Oral"},
        "venueid": {"value": "ICLR.cc/2026/Conference"},
        "_bibtex": {"value": "@inproceedings{\nnie2026large,\ntitle={Large Language Diffusion Models}\n}"},
    }
    if with_pdf:
        content["pdf"] = {"value": "/pdf/8d3b5f0a1c2e4b6d8f0a1c3e5b7d9f1a3c5e7b9d.pdf"}
    return {
        "count": 1,
        "notes": [{
            "content": content, "id": forum, "forum": forum, "number": 12345,
            "invitations": ["ICLR.cc/2026/Conference/-/Submission", "ICLR.cc/2026/Conference/-/Post_Submission"],
            "domain": "ICLR.cc/2026/Conference", "readers": ["everyone"],
            "writers": ["ICLR.cc/2026/Conference"], "signatures": ["ICLR.cc/2026/Conference/Submission12345/Authors"],
            "cdate": 1726900000000, "tcdate": 1726900000000, "mdate": 1740000000000,
            "odate": 1728000000000, "pdate": 1737590400000, "license": "CC BY 4.0", "version": 2,
        }],
    }


@pytest.fixture
def resolve(fakeweb, tmp_path):
    settings = settings_for(fakeweb, tmp_path)
    clients = []

    def run(url):
        resolver = pick_resolver(url, default_resolvers(settings))
        client = SafeClient(settings)
        clients.append(client)
        ctx = ResolveContext(url=url, identity=resolver.identify(url), settings=settings, http=client)
        return resolver.name, resolver.resolve(ctx)

    yield run
    for client in clients:
        client.close()


# DOI ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [DOI, f"doi:{DOI}", f"https://doi.org/{DOI}",
                                 f"http://dx.doi.org/{DOI.upper()}"])
def test_doi_links_and_bare_dois_go_to_the_doi_resolver(url):
    assert pick_resolver(url).name == "doi"
    identity = identify_url(url)
    assert identity.kind == "paper" and identity.doi == DOI
    assert identity.canonical_url == f"https://doi.org/{DOI}"


def test_doi_metadata_comes_from_crossref_and_an_open_pdf_is_kept(fakeweb, resolve):
    pdf = make_test_pdf(["PagedAttention body text"], title="Efficient Memory Management")
    fakeweb.add("/files/sosp23.pdf", pdf, "application/pdf")
    links = [
        {"URL": fakeweb.url("/tdm/sosp23.xml"), "content-type": "text/xml", "content-version": "vor",
         "intended-application": "text-mining"},
        {"URL": fakeweb.url("/files/sosp23.pdf"), "content-type": "application/pdf",
         "content-version": "vor", "intended-application": "similarity-checking"},
    ]
    fakeweb.add(f"/works/{DOI}", json.dumps(crossref_work(links=links)), "application/json")
    name, resolved = resolve(f"https://doi.org/{DOI}")
    assert name == "doi"
    assert resolved.kind == "paper"
    assert resolved.title == "Efficient Memory Management for Large Language Model Serving with PagedAttention"
    assert resolved.authors == ["Woosuk Kwon", "Zhuohan Li", "The vLLM Team"]
    assert resolved.abstract == (
        "High throughput serving of large language models (LLMs) requires batching & memory.\n\n"
        "We propose PagedAttention."
    )
    assert resolved.doi == DOI
    assert resolved.published_at == date(2023, 10, 23)
    assert resolved.extra["venue"] == "Proceedings of the 29th Symposium on Operating Systems Principles"
    assert resolved.extra["pages"] == "611-626" and resolved.extra["publisher"] == "ACM"
    assert resolved.pdf_bytes == pdf
    assert resolved.extra["pdf_source"] == fakeweb.url("/files/sosp23.pdf")
    assert f"/works/{DOI}" in fakeweb.paths_requested()


def test_a_closed_pdf_link_leaves_the_metadata_and_says_why(fakeweb, resolve):
    fakeweb.add("/paywall/sosp23.pdf", "<html><body>Please sign in</body></html>")
    links = [{"URL": fakeweb.url("/paywall/sosp23.pdf"), "content-type": "application/pdf",
              "content-version": "vor", "intended-application": "text-mining"}]
    fakeweb.add(f"/works/{DOI}", json.dumps(crossref_work(links=links)), "application/json")
    _, resolved = resolve(DOI)
    assert resolved.title.startswith("Efficient Memory Management")
    assert resolved.pdf_bytes is None and resolved.pdf_url is None
    assert "text/html" in resolved.extra["pdf_error"]


def test_unknown_doi_is_a_permanent_error_naming_crossref(fakeweb, resolve):
    fakeweb.add("/works/10.9999/nothing", "Resource not found.", "text/plain", status=404)
    with pytest.raises(ResolveError, match="Crossref has no record of the DOI 10.9999/nothing") as caught:
        resolve("https://doi.org/10.9999/nothing")
    assert caught.value.transient is False


def test_crossref_date_parts_may_lack_month_and_day():
    work = crossref_work()
    for key in ("published", "published-print", "published-online", "issued"):
        work["message"].pop(key)
    work["message"]["created"] = {"date-parts": [[2021]]}
    resolved = parse_crossref_work(json.dumps(work).encode(), DOI)
    assert resolved.published_at == date(2021, 1, 1)


def test_jats_abstract_without_markup_is_kept_as_it_is():
    assert jats_to_text("Plain abstract, no tags.") == "Plain abstract, no tags."


def test_arxiv_doi_is_the_arxiv_paper(fakeweb, resolve):
    fakeweb.add_arxiv_paper("2502.09992", "Large Language Diffusion Models", ["Shen Nie"], "Abstract.")
    identity = identify_url("https://doi.org/10.48550/arXiv.2502.09992")
    assert identity.arxiv_id == "2502.09992"
    assert identity.canonical_url == "https://arxiv.org/abs/2502.09992"
    name, resolved = resolve("10.48550/arXiv.2502.09992")
    assert name == "doi"
    assert resolved.title == "Large Language Diffusion Models" and resolved.arxiv_id == "2502.09992"
    assert resolved.doi == "10.48550/arxiv.2502.09992"
    assert resolved.pdf_url == fakeweb.url("/pdf/2502.09992")


# OpenReview --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"https://openreview.net/forum?id={FORUM}",
        f"openreview.net/forum?id={FORUM}&noteId=AbCdEfGh12",
        f"https://openreview.net/pdf?id={FORUM}",
        f"http://www.openreview.net/forum/?id={FORUM}&referrer=%5BAuthor%20Console%5D",
    ],
)
def test_openreview_links_name_one_forum(url):
    assert forum_id_of(url) == FORUM
    assert pick_resolver(url).name == "openreview"
    identity = identify_url(url)
    assert identity.canonical_url == f"https://openreview.net/forum?id={FORUM}"
    assert identity.kind == "paper"


def test_openreview_without_a_forum_id_is_a_plain_link():
    assert pick_resolver("https://openreview.net/group?id=ICLR.cc/2026/Conference").name == "web"


def test_openreview_forum_metadata_and_pdf_from_api_v2(fakeweb, resolve):
    fakeweb.add(f"/openreview/notes?id={FORUM}", json.dumps(openreview_v2_note()), "application/json")
    name, resolved = resolve(f"https://openreview.net/forum?id={FORUM}&noteId=xyz12345")
    assert name == "openreview"
    assert resolved.kind == "paper"
    assert resolved.title == "Large Language Diffusion Models"
    assert resolved.authors == ["Shen Nie", "Fengqi Zhu", "Zebin You"]
    assert resolved.abstract.startswith("Autoregressive models")
    assert resolved.extra["venue"] == "ICLR 2026 Oral"
    assert resolved.extra["venueid"] == "ICLR.cc/2026/Conference"
    assert resolved.extra["openreview_id"] == FORUM
    assert resolved.published_at == date(2025, 1, 23)
    assert resolved.pdf_url == fakeweb.url(f"/openreview/pdf?id={FORUM}")


def test_openreview_note_without_pdf_has_no_pdf_url(fakeweb, resolve):
    fakeweb.add(f"/openreview/notes?id={FORUM}", json.dumps(openreview_v2_note(with_pdf=False)),
                "application/json")
    _, resolved = resolve(f"https://openreview.net/forum?id={FORUM}")
    assert resolved.pdf_url is None and resolved.title == "Large Language Diffusion Models"


def test_openreview_missing_forum_is_a_permanent_error(fakeweb, resolve):
    fakeweb.add("/openreview/notes?id=Missing123",
                json.dumps({"name": "NotFoundError", "message": "The Note Missing123 was not found",
                            "status": 404}), "application/json", status=404)
    with pytest.raises(ResolveError, match="no public submission Missing123") as caught:
        resolve("https://openreview.net/forum?id=Missing123")
    assert caught.value.transient is False


def test_openreview_api_v1_note_has_bare_values():
    note = {"id": "rJl0r3R9KX", "forum": "rJl0r3R9KX", "tcdate": 1538087000000,
            "content": {"title": "An Old Paper", "authors": ["A. Author", "B. Author"],
                        "abstract": " Abstract v1. ", "venue": "ICLR 2019 Conference Blind Submission",
                        "pdf": "/pdf/0123456789abcdef.pdf"}}
    resolved = resolved_from_note(note)
    assert resolved.title == "An Old Paper" and resolved.authors == ["A. Author", "B. Author"]
    assert resolved.abstract == "Abstract v1."
    assert resolved.extra["venue"] == "ICLR 2019 Conference Blind Submission"
    assert resolved.published_at == date(2018, 9, 27)
