"""Meilisearch backend specifics: what its speed-ups must not change.

- Items are counted once however many of their pages match (page-mode counting), and beyond
  COUNT_EXACT matching documents the count and facets are scaled from a sample of buckets.
- Word-pair proximity is by attribute, so exact phrases are checked in Python: words apart in the
  abstract are no phrase, the phrase on a page is found even when the abstract has both words apart.
- Typo matches are found in the page text too (Meilisearch highlights nothing).
- setup() sends no settings task when the index has them already.
- Searches reuse a kept-alive connection and survive a server restart.
- Highlights find the same matches however they are looked for (app.search.text.Matcher.spans).
"""

from __future__ import annotations

import re
import string
import sys

import pytest

from app.search import meili, text
from app.search.base import SearchDocument
from app.search.meili import MeiliBackend
from app.search.query import parse_query
from app.search.text import Matcher, make_term
from tests.fixtures.meili import unique_index_name

pytestmark = pytest.mark.meili


@pytest.fixture
def backend(meili_server):
    b = MeiliBackend(meili_server.url, meili_server.key, unique_index_name("meili"))
    b.setup()
    yield b
    b.close()


def run(backend, raw: str, **kw):
    kw.setdefault("limit", 20)
    return backend.search(parse_query(raw, **kw))


def ids(results) -> list[int]:
    return [h.item_id for h in results.hits]


def paper(item_id: int, **kw) -> SearchDocument:
    kw.setdefault("kind", "paper")
    return SearchDocument(item_id=item_id, **kw)


def test_an_item_matching_on_many_pages_counts_once(backend):
    pages = [f"page {n} about echidnas" for n in range(12)]
    docs = [paper(i, title=f"item {i}", pages=pages, has_pdf=True) for i in range(1, 4)]
    docs += [paper(i, kind="post", title=f"echidna post {i}") for i in range(4, 8)]
    backend.upsert(docs)
    first = run(backend, "echidnas", limit=2)
    assert first.total == 7 and first.exhaustive
    assert first.facets["has_pdf"] == {"true": 3, "false": 4}
    assert first.facets["kind"] == {"paper": 3, "post": 4}
    rest = run(backend, "echidnas", limit=2, offset=6)
    assert rest.total == 7 and len(rest.hits) == 1


def test_beyond_count_exact_the_count_is_a_scaled_sample(backend, monkeypatch):
    backend.upsert([paper(i, title=f"wallaby {i}", pages=["a wallaby page", "another wallaby page"]) for i in range(1, 601)])
    monkeypatch.setattr(meili, "COUNT_EXACT", 200)
    results = run(backend, "wallaby")
    assert not results.exhaustive
    assert 400 <= results.total <= 800  # 600 items, counted on a sample
    assert 400 <= results.facets["kind"]["paper"] <= 800
    monkeypatch.setattr(meili, "COUNT_EXACT", 10_000)
    exact = run(backend, "wallaby")
    assert exact.exhaustive and exact.total == 600 and exact.facets["kind"] == {"paper": 600}


def test_a_phrase_is_words_in_order_not_words_in_one_attribute(backend):
    backend.upsert([
        paper(1, title="Ordinary", abstract="An equation that is differential in nature."),
        paper(2, title="Apart here", abstract="The equation is not differential.",
              pages=["intro", "we solve a differential equation numerically"], has_pdf=True),
        paper(3, title="Adjacent", abstract="A stochastic differential equation."),
    ])
    results = run(backend, '"differential equation"')
    assert ids(results) == [3, 2]
    assert results.total == 2 and results.facets["has_pdf"] == {"false": 1, "true": 1}
    assert results.hits[1].page == 2  # found on the page, not in the abstract
    assert "<mark>differential equation</mark>" in results.hits[1].snippet_html.replace("</mark> <mark>", " ")
    assert ids(run(backend, '"equation differential"')) == []


def test_an_excluded_hyphenated_word_only_drops_documents_holding_it(backend):
    backend.upsert([
        paper(1, title="Fine-tuning numbats"),
        paper(2, title="Numbats, fine and tuning forks"),  # both tokens, not as one word
        paper(3, title="Numbats alone"),
    ])
    assert sorted(ids(run(backend, "numbats -fine-tuning"))) == [2, 3]


def test_a_typo_on_a_page_is_highlighted_in_the_snippet(backend):
    backend.upsert([paper(1, title="Untitled", pages=["nothing here", "the marsupial quokkas of Rottnest"])])
    results = run(backend, "marsupail")
    assert ids(results) == [1]
    assert results.hits[0].page == 2
    assert "<mark>marsupial</mark>" in results.hits[0].snippet_html


def test_setup_sends_no_settings_task_when_nothing_changed(backend):
    before = backend._writer.get_tasks({"indexUids": [backend.index_name]}).total
    backend.setup()
    assert backend._writer.get_tasks({"indexUids": [backend.index_name]}).total == before


def test_a_search_after_the_kept_alive_connection_dropped(backend):
    backend.upsert([paper(1, title="bandicoot")])
    assert ids(run(backend, "bandicoot")) == [1]
    backend._local.conn.sock.close()  # as when the server restarts between two searches
    assert ids(run(backend, "bandicoot")) == [1]


def test_the_count_is_sent_before_the_hits_are_highlighted_and_the_connection_kept(backend, monkeypatch):
    backend.upsert([paper(i, title=f"quoll {i}", pages=["a quoll page", "more quolls"]) for i in range(1, 31)])
    events = []
    send, hits = backend._send, backend._hits
    monkeypatch.setattr(backend, "_send", lambda asked: (events.append("hitsPerPage" in str(asked.data)), send(asked)))
    monkeypatch.setattr(backend, "_hits", lambda *a: (events.append("highlight"), hits(*a))[1])
    first = run(backend, "quoll", limit=5)
    assert events == [False, True, "highlight"]  # hits, count, then the highlighting
    assert first.total == 30 and first.exhaustive and first.facets["kind"] == {"paper": 30}
    conn = backend._local.conn
    assert conn is not None  # given back once the count was read
    assert run(backend, "quoll", limit=5, offset=25).total == 30
    assert backend._local.conn is conn
    conn.sock.close()  # dropped between two searches: both requests go out again
    again = run(backend, "quoll", limit=5)
    assert again.total == 30 and ids(again) == ids(first)


def test_indexed_text_keeps_latex_words_apart_and_pages_keep_their_original():
    doc = paper(1, title="T", notes=["score $\\nabla_x \\log p_t(x)$"], pages=["plain page", "has p_t in it"])
    head, first, second = meili.meili_documents(doc)
    assert head["notes"] == ["score   nabla x  log p t(x) "]
    assert head["notes_src"] == doc.notes
    assert "text_src" not in first and first["text"] == "plain page"
    assert second["text"] == "has p t in it" and second["text_src"] == "has p_t in it"


def test_an_index_with_another_releases_settings_is_emptied_and_flagged(backend, meili_server):
    """Settings written by another release mean documents of another shape: setup() empties the
    index and sets ``rebuilt`` so the app queues the whole library (app.services.indexing)."""
    backend.upsert([paper(1, title="bandicoot")])
    assert ids(run(backend, "bandicoot")) == [1]
    backend._wait([backend._write_index.update_settings({"proximityPrecision": "byWord"}).task_uid])
    again = MeiliBackend(meili_server.url, meili_server.key, backend.index_name)
    again.setup()
    assert again.rebuilt is True
    assert again.indexed_ids() == set() and ids(run(again, "bandicoot")) == []
    third = MeiliBackend(meili_server.url, meili_server.key, backend.index_name)
    third.setup()  # settings now current: nothing emptied
    assert third.rebuilt is False
    again.close()
    third.close()


# Highlighting speed-ups (app.search.text, used for every hit) -----------------------------------


def test_case_blind_matches_of_ascii_and_cjk_words_are_found_through_lower():
    """Matcher.spans looks for ASCII and CJK query words in text.lower() (after text.case_fixed):
    every character that re.IGNORECASE matches to such a word's character must lower to it."""
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    for ch in string.ascii_lowercase + string.digits + "扩散推理の":
        for found in set(re.compile(re.escape(ch), re.IGNORECASE).findall(every)):
            assert text.case_fixed(found).lower() == ch, (ch, found)


def test_spans_are_the_regexs_matches():
    terms = [make_term("model"), make_term("is"), make_term("扩散"), make_term("diffus", prefix=True)]
    matcher = Matcher(terms, extra_words=["diffusion", "s"])
    assert matcher._literals is not None  # the str.find path
    samples = [
        "Model models MODEL remodel model_x modeling, is IS this İs ıs ſ diffusıon DIFFUSION diffusé",
        "扩散模型 and 扩散 in diffusion-models; x-is is-x _is_ s s's ſ K model",
        "a" * 3000 + " is " + "s " * 2000,  # more starts than the str.find path takes on
    ]
    for sample in samples:
        expected = [(m.start(), m.end(), m.group().lower()) for m in matcher.regex.finditer(sample)]
        assert matcher.spans(sample) == expected
    assert Matcher([make_term("straße")])._literals is None  # not ASCII: the regex alone
    assert Matcher([make_term("扩散")])._literals is None  # no look-behind to skip: the regex alone


def test_typo_candidates_are_the_sized_words_of_the_text():
    word, k, _, sized, _, _ = meili.TypoWords([make_term("marsupial")]).terms[0]
    sample = (
        "Marsupials, marsupail_quokka MARSUPIAL—marsupíal «marsupiaux» ﬁmarsupial marsupial's "
        "有袋类marsupial 12345678 x-marsupials-y naïveté\nmarsupialisation İstanbuls"
    )
    expected = {text.fold(w) for w in sized.findall(sample)}
    assert meili._sized_words(sample, sized, len(word) - k, len(word) + k) == expected
    assert {"marsupials", "marsupail", "marsupiaux", "marsupial"} <= expected
