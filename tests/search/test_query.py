"""The search box syntax: parse_query never raises, and format_query round-trips."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.search.query import format_query, parse_query

SYNTAX = st.sampled_from(
    ["tag:", "kind:", "is:", "has:", "year:", "author:", "-", '"', ":", "/", " ", "pdf", "starred",
     "read", "2025", "扩散", "\\nabla", "foo:bar", "-is:starred", "tag:ml/diffusion"]
)
QUERIES = st.lists(st.one_of(SYNTAX, st.text(max_size=8)), max_size=12).map("".join)


def test_every_operator():
    q = parse_query(
        'diffusion "score matching" -gan tag:ML/Diffusion kind:paper is:reading is:starred has:pdf'
        " year:2025 author:Song model"
    )
    assert q.terms == ["diffusion", "model"]
    assert q.phrases == ["score matching"]
    assert q.excluded == ["gan"]
    assert q.tags == ["ml/diffusion"]
    assert q.kinds == ["paper"]
    assert q.read_state == "reading"
    assert q.starred is True
    assert q.has_pdf is True
    assert q.years == [2025]
    assert q.authors == ["song"]


def test_negated_flags():
    q = parse_query("-is:starred -has:pdf")
    assert (q.starred, q.has_pdf) == (False, False)


def test_malformed_syntax_becomes_words():
    q = parse_query('foo:bar year:abc is:maybe tag: - "unbalanced words')
    assert q.terms == ["foo:bar", "year:abc", "is:maybe", "tag:", "unbalanced", "words"]
    assert q.phrases == [] and q.excluded == [] and q.years == []


def test_sort_limit_offset_are_clamped():
    q = parse_query("x", sort="bogus", limit=10_000, offset=-3)
    assert (q.sort, q.limit, q.offset) == ("relevance", 100, 0)


def test_format_is_canonical():
    assert format_query(parse_query('  b  "x  y" a -c kind:paper  ')) == 'b a "x y" -c kind:paper'


@settings(max_examples=400, deadline=None)
@given(QUERIES)
def test_parse_never_raises_and_format_round_trips(raw):
    q = parse_query(raw)
    assert parse_query(format_query(q)) == q


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_any_text(raw):
    q = parse_query(raw)
    assert parse_query(format_query(q)) == q
