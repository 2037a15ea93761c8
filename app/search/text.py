"""Text helpers both search backends share: tokens, CJK bigrams, chunks, highlights and snippets.

Indexing and querying go through the same functions, so a word is found the same way in either
engine:

- Latin words are letters and digits; anything else separates them, so LaTeX such as
  ``\\nabla \\log p_t`` is the words ``nabla log p t``.
- A run of Han (or kana) characters is indexed as its overlapping bigrams plus its last character
  (``安装简单`` -> ``安装 装简 简单 单``). A query of two or more CJK characters becomes the phrase
  of its bigrams, so any substring of a longer word is found (``参数`` inside ``参数量``); one
  character is a prefix of the bigrams.
- Highlights and snippets are computed here, from the original text, HTML-escaped, with only
  ``<mark>`` added.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
CJK_RUN = re.compile(f"[{CJK_CLASS}]+")
# A token is a run of letters/digits that are not CJK, or a CJK run.
TOKEN = re.compile(f"[{CJK_CLASS}]+|[^\\W_{CJK_CLASS}]+")

ONE_TYPO_MIN = 5  # words of this many letters allow one typo
TWO_TYPOS_MIN = 9  # ... and from this many, two
CHUNK_WORDS = 4000  # largest chunk of body or page text, far below Meilisearch's 65,535 positions


def is_cjk(token: str) -> bool:
    return bool(CJK_RUN.fullmatch(token))


def fold(text: str) -> str:
    """Lower-case and strip diacritics, as the FTS5 unicode61 tokenizer does."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFKC", stripped).lower()


def cjk_grams(run: str) -> list[str]:
    """Bigrams of a CJK run plus its last character (one character alone stays itself)."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)] + [run[-1]]


def index_text(text: str) -> str:
    """The text an engine indexes: unchanged except CJK runs, which become their bigrams."""
    if not text or not CJK_RUN.search(text):
        return text
    return CJK_RUN.sub(lambda m: " " + " ".join(cjk_grams(m.group())) + " ", text)


def words(text: str) -> list[str]:
    """Folded word tokens of a text, CJK runs kept whole (used for vocabularies and matching)."""
    return TOKEN.findall(fold(text))


def count_words(text: str) -> int:
    """Roughly how many positions an engine gives the text (a CJK character counts as one): the
    tokens, plus one more per CJK character after the first of a run (two C-level findall calls,
    no Python loop over the tokens)."""
    return len(TOKEN.findall(text)) + sum(len(run) - 1 for run in CJK_RUN.findall(text))


# Query terms -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Term:
    """One query word as the engines see it: index tokens, matched as a phrase when several."""

    raw: str
    tokens: list[str]  # folded; CJK runs already turned into bigrams
    prefix: bool = False  # the last token may be a prefix (search as you type)
    cjk_runs: list[str] = field(default_factory=list)  # for highlighting
    latin: list[str] = field(default_factory=list)  # folded Latin words, for highlighting

    @property
    def typo_word(self) -> str | None:
        """The word typo tolerance applies to: a single Latin word of 5+ letters."""
        if len(self.tokens) == 1 and not self.cjk_runs and len(self.tokens[0]) >= ONE_TYPO_MIN:
            word = self.tokens[0]
            return word if word.isalpha() else None
        return None

    @property
    def max_typos(self) -> int:
        word = self.typo_word
        if word is None:
            return 0
        return 2 if len(word) >= TWO_TYPOS_MIN else 1


def make_term(raw: str, *, prefix: bool = False) -> Term | None:
    tokens: list[str] = []
    runs: list[str] = []
    latin: list[str] = []
    for tok in TOKEN.findall(fold(raw)):
        if is_cjk(tok):
            runs.append(tok)
            tokens.extend([tok] if len(tok) == 1 else cjk_grams(tok)[:-1])
        else:
            latin.append(tok)
            tokens.append(tok)
    if not tokens:
        return None
    # A CJK bigram is a whole token already; only a lone character or a Latin word is a prefix.
    last = tokens[-1]
    can_prefix = not is_cjk(last) or len(last) == 1
    return Term(raw=raw, tokens=tokens, prefix=prefix and can_prefix, cjk_runs=runs, latin=latin)


def typo_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance, giving up (returning limit + 1) beyond limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        best = cur[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
            best = min(best, v)
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def deletes(word: str) -> set[str]:
    """The word with one character removed, each way (keys of the typo index)."""
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


# Chunks ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Chunk:
    page: int | None  # 1-based PDF page; None for the body
    text: str


def split_long(text: str, max_words: int = CHUNK_WORDS) -> list[str]:
    """Cut text into pieces of at most max_words positions, at whitespace where possible, else
    between tokens, else (a CJK run longer than a piece) between two characters of the run."""
    if len(text) < 2 * max_words and not CJK_RUN.search(text):
        return [text]  # without CJK a word and its separator take two characters: short enough
    if count_words(text) <= max_words:
        return [text]
    pieces: list[str] = []
    start = 0
    n = 0
    last_space = 0
    for m in TOKEN.finditer(text):
        tok = m.group()
        n += len(tok) if is_cjk(tok) else 1
        if n > max_words:
            cut = last_space if last_space > start else m.start()
            if cut > start:
                pieces.append(text[start:cut])
                start = cut
                n = count_words(text[start : m.end()])
            # Still over: the token is a CJK run longer than the room left (what precedes it
            # fits). Its characters are a position each, so the piece ends max_words in.
            while n > max_words:
                cut = m.end() - (n - max_words)
                pieces.append(text[start:cut])
                start = cut
                n -= max_words
        if m.end() < len(text) and text[m.end()].isspace():
            last_space = m.end()
    pieces.append(text[start:])
    return [p for p in pieces if p.strip()]


def chunks_of(body: str, pages: list[str]) -> list[Chunk]:
    """The long texts of a document, in order: body pieces, then each PDF page (split if huge)."""
    out = [Chunk(None, piece) for piece in split_long(body)] if body.strip() else []
    for number, page in enumerate(pages, start=1):
        if page.strip():
            out.extend(Chunk(number, piece) for piece in split_long(page))
    return out


# Highlighting and snippets ---------------------------------------------------------------------

MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"
# Query words Matcher.spans may look for with str.find, and the characters that re.IGNORECASE
# matches to an ASCII letter although their lower() is not that letter (tests/search/test_meili.py).
_PLAIN_LITERAL = re.compile(f"[a-z0-9]+|[{CJK_CLASS}]+")
_CASE_FIXES = (("\u0130", "i"), ("\u0131", "i"), ("\u017f", "s"))


def case_fixed(text: str) -> str:
    """text with the characters of _CASE_FIXES replaced by the ASCII letter they match. One
    str.replace each: str.translate looks every character up in its table, 0.3 ms on average on
    a PDF page holding a dotless i (TeX's accents leave them) against 2 us. 3% of the pages of
    bench/run's library hold one, and 14% of the pages five of its English queries match first."""
    for char, letter in _CASE_FIXES:
        if char in text:
            text = text.replace(char, letter)
    return text


class Matcher:
    """Finds the spans of an original text that a parsed query matched, with one regex.

    Typo matches are found through extra_words: the vocabulary words a backend matched (the
    embedded typo candidates, or the words Meilisearch highlighted).
    """

    def __init__(self, terms: Iterable[Term], extra_words: Iterable[str] = ()) -> None:
        exact: set[str] = set()
        prefixes: set[str] = set()
        cjk: set[str] = set()
        for term in terms:
            for i, word in enumerate(term.latin):
                exact.add(word)
                if term.prefix and i == len(term.latin) - 1 and not term.cjk_runs:
                    prefixes.add(word)
            cjk.update(term.cjk_runs)
        exact.update(w for w in extra_words if w)
        latin = [re.escape(p) + r"[^\W_]*" for p in sorted(prefixes, key=len, reverse=True)]
        latin += [re.escape(w) for w in sorted(exact - prefixes, key=len, reverse=True)]
        parts = []
        if latin:
            parts.append(r"(?<![^\W_])(?:" + "|".join(latin) + r")(?![^\W_])")
        if cjk:
            parts.append("|".join(re.escape(r) for r in sorted(cjk, key=len, reverse=True)))
        self.regex = re.compile("|".join(parts), re.IGNORECASE) if parts else None
        # Where a match can begin is found with str.find in the lower-cased text (see spans) when
        # every word is ASCII letters and digits or CJK, whose case-blind matches lower() finds;
        # not for CJK words alone, whose regex (no look-behind) skips ahead as fast.
        literals = exact | prefixes | cjk
        plain = latin and all(_PLAIN_LITERAL.fullmatch(w) for w in literals)
        self._literals = sorted(literals) if plain else None

    def __bool__(self) -> bool:
        return self.regex is not None

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, key) of every match; key identifies the query word it matched.

        The same matches as self.regex.finditer(text), many times faster on a page of text: a
        regex that begins with a look-behind and ignores case is tried at every position, while
        str.find skips to the few where a query word begins; the regex then runs only there."""
        if self.regex is None:
            return []
        starts = self._starts(text)
        if starts is None:
            return [(m.start(), m.end(), m.group().lower()) for m in self.regex.finditer(text)]
        out = []
        end = 0
        match = self.regex.match
        for at in starts:
            if at >= end and (m := match(text, at)):
                end = m.end()
                out.append((at, end, m.group().lower()))
        return out

    def _starts(self, text: str) -> list[int] | None:
        """Every position where a query word occurs in text, ignoring case, in order; None when
        that cannot be told from text.lower() (or would not be faster than the regex)."""
        if self._literals is None:
            return None
        low = case_fixed(text).lower()
        if len(low) != len(text):
            return None
        starts: set[int] = set()
        most = 64 + len(text) // 32
        for word in self._literals:
            at = low.find(word)
            while at != -1:
                starts.add(at)
                at = low.find(word, at + 1)
            if len(starts) > most:
                return None
        return sorted(starts)


def mark(text: str, spans: list[tuple[int, int, str]], start: int = 0, end: int | None = None) -> str:
    """HTML-escape text[start:end] and wrap the spans inside it in <mark>."""
    end = len(text) if end is None else end
    out: list[str] = []
    pos = start
    for s, e, _ in spans:
        if e <= pos or s >= end:
            continue
        s = max(s, pos)
        e = min(e, end)
        out.append(html.escape(text[pos:s], quote=False))
        out.append(MARK_OPEN + html.escape(text[s:e], quote=False) + MARK_CLOSE)
        pos = e
    out.append(html.escape(text[pos:end], quote=False))
    return "".join(out)


def highlight(text: str, matcher: Matcher) -> str:
    return mark(text, matcher.spans(text))


def score_spans(spans: list[tuple[int, int, str]]) -> int:
    return len({key for _, _, key in spans})


def crop(text: str, matcher: Matcher, width: int = 220) -> tuple[str, int]:
    """A window of about width characters around the best match, marked; and its match count.

    The best window holds the most distinct query words, then the most matches.
    """
    text = " ".join(text.split())
    spans = matcher.spans(text)
    if len(text) <= width:
        return mark(text, spans), score_spans(spans)
    if not spans:
        cut = _word_boundary(text, width, backwards=True)
        return html.escape(text[:cut], quote=False) + "…", 0
    best = (-1, -1, 0)
    j = 0
    for i, (s, _, _) in enumerate(spans):
        while j < len(spans) and spans[j][1] - s <= width:
            j += 1
        window = spans[i:j]
        key = (score_spans(window), len(window), -s)
        if key > best:
            best = key
            best_start = s
            best_end = spans[j - 1][1]
    slack = max(0, width - (best_end - best_start))
    start = max(0, best_start - slack // 3)
    end = min(len(text), start + width)
    if end - start < width:
        start = max(0, end - width)
    if start > 0:
        start = _word_boundary(text, start, backwards=False)
    if end < len(text):
        end = _word_boundary(text, end, backwards=True)
    inner = [sp for sp in spans if sp[0] >= start and sp[1] <= end]
    body = mark(text, inner, start, end)
    return ("…" if start > 0 else "") + body + ("…" if end < len(text) else ""), score_spans(inner)


def _word_boundary(text: str, pos: int, *, backwards: bool) -> int:
    """Move pos to a nearby space so a crop does not cut a Latin word (CJK may be cut anywhere)."""
    limit = 20
    if backwards:
        for k in range(pos, max(0, pos - limit), -1):
            if text[k - 1].isspace() or CJK_RUN.match(text[k - 1]):
                return k
        return pos
    for k in range(pos, min(len(text), pos + limit)):
        if text[k].isspace() or CJK_RUN.match(text[k]):
            return k + 1 if text[k].isspace() else k
    return pos


def terms_of(query_terms: list[str], phrases: list[str]) -> tuple[list[Term], list[Term]]:
    """Terms for a query's words (the last one a prefix) and for its phrases."""
    words_ = [make_term(raw, prefix=i == len(query_terms) - 1) for i, raw in enumerate(query_terms)]
    phrase_terms = [make_term(raw) for raw in phrases]
    return [t for t in words_ if t], [t for t in phrase_terms if t]


def best_snippet(
    matcher: Matcher, head_texts: list[str], chunk_text: str | None, width: int = 220
) -> tuple[str, bool]:
    """The snippet with the most matched words among the head texts (abstract, notes) and the
    chunk; True when the chunk won. Without any match, the first non-empty text's opening."""
    best: tuple[int, int, str, bool] | None = None
    candidates = [(t, False) for t in head_texts if t]
    if chunk_text:
        candidates.append((chunk_text, True))
    for order, (text, is_chunk) in enumerate(candidates):
        snippet, score = crop(text, matcher, width)
        key = (score, -order)
        if best is None or key > best[:2]:
            best = (score, -order, snippet, is_chunk)
    if best is None:
        return "", False
    return best[2], best[3] and best[0] > 0
