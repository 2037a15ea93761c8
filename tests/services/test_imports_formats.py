"""CSL-JSON, Netscape bookmarks, X archive likes/bookmarks and URL lists: realistic files, broken ones."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.models import Item
from app.services.imports.base import Skipped, UnreadableFile
from app.services.imports.bookmarks import BookmarksImporter
from app.services.imports.csl_json import CslJsonImporter
from app.services.imports.run import run_import_job, start_import
from app.services.imports.url_list import UrlListImporter
from app.services.imports.x_archive import XArchiveImporter
from app.services.jobs import NoJobQueue

CSL = [
    {"id": "http://zotero.org/users/1/items/ABCD", "type": "article", "title": "Large Language Diffusion Models",
     "author": [{"family": "Nie", "given": "Shen"}, {"family": "Zhu", "given": "Fengqi"}],
     "issued": {"date-parts": [[2025, 2, 14]]}, "number": "arXiv:2502.09992", "publisher": "arXiv",
     "URL": "http://arxiv.org/abs/2502.09992", "keyword": "diffusion, language models",
     "abstract": "Autoregressive models..."},
    {"id": "ho2020", "type": "paper-conference", "title": "Denoising Diffusion Probabilistic Models",
     "container-title": "NeurIPS", "DOI": "10.5555/3495724.3496298", "author": [{"literal": "OpenAI"}],
     "issued": {"date-parts": [["2020"]]}},
    "not an object",
    {"id": "empty", "type": "article"},
]

# As Firefox / Linkding export it.
BOOKMARKS = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<!-- This is an automatically generated file. -->
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks Menu</H1>
<DL><p>
    <DT><H3 ADD_DATE="1700000000" LAST_MODIFIED="1700000001">Research</H3>
    <DL><p>
        <DT><A HREF="https://lilianweng.github.io/posts/2021-07-11-diffusion-models/" ADD_DATE="1700000100" TAGS="diffusion,blogs">What are Diffusion Models? | Lil&#39;Log</A>
        <DD>A long read on diffusion &amp; score models
        <DT><A HREF="place:sort=8&maxResults=10">Recent</A>
    </DL><p>
    <DT><A HREF="https://arxiv.org/abs/2502.09992v2" ADD_DATE="1700000200" PRIVATE="1" TOREAD="1" TAGS="papers">LLaDA</A>
    <DT><A>no link at all</A>
    <DT><A HREF="https://example.org/ümlaut?q=1" ADD_DATE="not-a-date">Example</A>
</DL><p>
"""

LIKES = """window.YTD.like.part0 = [
  {
    "like" : {
      "tweetId" : "1890000000000000001",
      "fullText" : "Our paper on discrete diffusion is out! https://t.co/abc",
      "expandedUrl" : "https://twitter.com/i/web/status/1890000000000000001"
    }
  },
  {
    "like" : {
      "tweetId" : "1890000000000000002",
      "fullText" : "Second like, no expanded url"
    }
  },
  { "like" : { "fullText" : "no id here" } },
  [1, 2, 3]
]"""

BOOKMARKS_JS = """window.YTD.bookmark.part0 = [ { "bookmark" : { "tweetId" : "1890000000000000003" } } ]"""

URLS = """# my reading list
https://arxiv.org/abs/2502.09992
2011.13456
10.1145/3600006.3613165

javascript:alert(1)
not a url at all
https://example.org/post
"""


def test_csl_json_items_map_to_papers_and_report_bad_ones():
    values = list(CslJsonImporter().parse(json.dumps(CSL).encode()))
    nie, ho, bad, empty = values
    assert nie.arxiv_id == "2502.09992" and nie.authors == ["Shen Nie", "Fengqi Zhu"]
    assert nie.published_at.isoformat() == "2025-02-14" and nie.tags == ["diffusion", "language models"]
    assert ho.doi == "10.5555/3495724.3496298" and ho.authors == ["OpenAI"] and ho.published_at.year == 2020
    assert isinstance(bad, Skipped) and isinstance(empty, Skipped) and "no title" in empty.reason
    with pytest.raises(UnreadableFile):
        list(CslJsonImporter().parse(b"{not json"))


def test_netscape_bookmarks_keep_tags_dates_descriptions_and_skip_non_links():
    values = list(BookmarksImporter().parse(BOOKMARKS.encode()))
    entries = [v for v in values if not isinstance(v, Skipped)]
    skipped = [v for v in values if isinstance(v, Skipped)]
    lil, llada, example = entries
    assert lil.tags == ["diffusion", "blogs"] and lil.title == "What are Diffusion Models? | Lil'Log"
    assert lil.saved_at.timestamp() == 1700000100 and lil.extra["folder"] == "Research"
    assert lil.abstract == "A long read on diffusion & score models"
    assert llada.extra["private"] is True and llada.tags == ["papers"]
    assert example.saved_at is None
    assert sorted(s.reason for s in skipped) == ["no HREF", "not a web page (place: link)"]


def test_x_archive_likes_and_bookmarks_keep_the_tweet_text():
    likes = list(XArchiveImporter().parse(LIKES.encode()))
    first, second, no_id, not_obj = likes
    assert first.kind == "tweet" and first.text.startswith("Our paper on discrete diffusion")
    assert second.ref == "https://x.com/i/status/1890000000000000002"
    assert isinstance(no_id, Skipped) and isinstance(not_obj, Skipped)
    (bm,) = XArchiveImporter().parse(BOOKMARKS_JS.encode())
    assert bm.extra["tweet_id"] == "1890000000000000003"
    with pytest.raises(UnreadableFile):
        list(XArchiveImporter().parse(b"window.YTD.like.part0 = [ {broken"))


def test_url_lists_accept_urls_arxiv_ids_and_dois_and_report_the_rest():
    values = list(UrlListImporter().parse(URLS.encode()))
    assert [v.ref for v in values if not isinstance(v, Skipped)] == [
        "https://arxiv.org/abs/2502.09992", "2011.13456", "10.1145/3600006.3613165", "https://example.org/post"]
    assert [v.entry.split(":")[0] for v in values if isinstance(v, Skipped)] == ["line 6", "line 7"]


@pytest.mark.parametrize("fmt,data,created,skipped", [
    ("csl-json", json.dumps(CSL).encode(), 2, 2),
    ("bookmarks", BOOKMARKS.encode(), 3, 2),
    ("x-archive", LIKES.encode(), 2, 2),
    ("urls", URLS.encode(), 4, 2),
])
def test_each_format_imports_then_reimports_nothing_new(db_factory, db_settings, fmt, data, created, skipped):
    def run():
        job = start_import(db_factory, db_settings, NoJobQueue(), fmt, f"file.{fmt}", data)
        return run_import_job(db_factory, db_settings, job.id)

    first = run()
    assert first.status == "done", first.error
    assert (first.created, first.merged, len(first.skipped)) == (created, 0, skipped)
    second = run()
    assert (second.created, second.merged) == (0, created)
    with db_factory() as session:
        items = session.scalars(select(Item)).all()
        assert len(items) == created
        if fmt == "x-archive":
            assert {i.kind for i in items} == {"tweet"}
            assert any(i.text.startswith("Our paper on discrete diffusion") for i in items)
