"""Tokens, CJK bigrams, chunks, highlighting and snippets."""

from __future__ import annotations

from app.search.text import (
    Matcher,
    chunks_of,
    count_words,
    crop,
    highlight,
    index_text,
    make_term,
    typo_distance,
    words,
)


def matcher(*raw: str) -> Matcher:
    return Matcher([t for i, r in enumerate(raw) if (t := make_term(r, prefix=i == len(raw) - 1))])


def test_cjk_runs_become_bigrams_and_latin_is_untouched():
    assert index_text("DPO偏好优化 works") == "DPO 偏好 好优 优化 化  works"
    assert index_text("plain English") == "plain English"


def test_latex_is_words():
    assert words("$\\nabla_x \\log p_t(x)$") == ["nabla", "x", "log", "p", "t", "x"]
    assert make_term("p_t").tokens == ["p", "t"]


def test_query_terms():
    assert make_term("参数量").tokens == ["参数", "数量"]
    assert make_term("Modèle").tokens == ["modele"]
    assert make_term("toolfrmr").max_typos == 1  # 8 letters
    assert make_term("transfomr").max_typos == 2  # 9 letters
    assert make_term("vorp").max_typos == 0
    assert make_term("扩散").max_typos == 0


def test_highlight_escapes_html_and_adds_only_mark():
    out = highlight("<script>alert(1)</script> Attention & more", matcher("attention"))
    assert out == "&lt;script&gt;alert(1)&lt;/script&gt; <mark>Attention</mark> &amp; more"


def test_highlight_prefix_typo_and_chinese():
    terms = [make_term("安装"), make_term("difusion"), make_term("reinf", prefix=True)]
    m = Matcher(terms, extra_words=["diffusion"])  # the backend says which word the typo matched
    assert highlight("Reinforcement diffusion 安装简单", m) == (
        "<mark>Reinforcement</mark> <mark>diffusion</mark> <mark>安装</mark>简单"
    )


def test_crop_centres_on_the_best_window():
    text = "filler " * 100 + "the wombat and the quokka met" + " filler" * 100
    snippet, score = crop(text, matcher("quokka", "wombat"))
    assert score == 2
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<mark>wombat</mark>" in snippet and "<mark>quokka</mark>" in snippet
    assert len(snippet) < 300


def test_long_pages_are_split_below_the_engine_limit():
    page = "word " * 20_000
    chunks = chunks_of("", ["short", page])
    assert [c.page for c in chunks][:2] == [1, 2]
    assert all(count_words(c.text) <= 4000 for c in chunks)
    assert sum(count_words(c.text) for c in chunks) == 20_001


def test_typo_distance():
    assert typo_distance("transformer", "trnsfomer", 2) == 2
    assert typo_distance("ab", "ba", 1) == 1
    assert typo_distance("toolformer", "tlformr", 2) == 3


def test_count_words_counts_a_token_per_latin_word_and_one_per_cjk_character():
    """The findall formula equals the token-by-token count, on mixed real text (the Chinese manual
    with math) and edge cases; split_long's short-text shortcut never skips a text that needs cutting."""
    from pathlib import Path

    import pymupdf

    from app.search.text import CHUNK_WORDS, TOKEN, is_cjk, split_long

    def by_token(text: str) -> int:
        return sum(len(t) if is_cjk(t) else 1 for t in TOKEN.findall(text))

    pdf = Path(__file__).resolve().parents[3] / "shared" / "pdfs" / "zh_thuthesis_manual.pdf"
    with pymupdf.open(pdf) as doc:
        pages = [p.get_text() for p in doc][:15]
    samples = [*pages, "", "安装简单 DPO 偏好 \\nabla \\log p_t", "参数量" * 3000, "a " * 5000, "x_1,y_2;z3"]
    for text in samples:
        assert count_words(text) == by_token(text)
    for text in ("a " * (CHUNK_WORDS + 1), "ab " * CHUNK_WORDS + "ab", "中文 " * (CHUNK_WORDS // 2 + 1)):
        assert all(count_words(p) <= CHUNK_WORDS for p in split_long(text))
        assert len(split_long(text)) == 2


def test_split_long_cuts_inside_a_cjk_run_longer_than_a_chunk():
    """Chinese written without spaces is one token per run of Han characters: a run longer than
    max_words is cut inside, so no piece is over the cap, and the pieces joined are the text."""
    from pathlib import Path

    import pymupdf

    from app.search.text import CHUNK_WORDS, CJK_RUN, split_long

    pdf = Path(__file__).resolve().parents[3] / "shared" / "pdfs" / "zh_thuthesis_manual.pdf"
    with pymupdf.open(pdf) as doc:
        manual = "".join(p.get_text() for p in doc)
    run = "".join(CJK_RUN.findall(manual))  # the manual's Han characters, one unbroken run
    assert len(run) > 5 * CHUNK_WORDS
    samples = [
        run,
        "".join(manual.split()),  # the whole manual without whitespace: math, Latin and Han
        "参数量" * 3000,
        "a few words first " + run[: 2 * CHUNK_WORDS + 7] + " and some after",
        "x" * 10 + run[: CHUNK_WORDS + 1],
    ]
    for text in samples:
        for max_words, part in ((CHUNK_WORDS, text), (7, text[:5000])):
            pieces = split_long(part, max_words)
            assert all(count_words(p) <= max_words for p in pieces)
            assert "".join(pieces) == part
    assert [count_words(p) for p in split_long("参数量" * 3000)] == [CHUNK_WORDS, CHUNK_WORDS, 1000]
    assert [count_words(p) for p in split_long("a " + "参" * 4000)] == [1, 4000]
