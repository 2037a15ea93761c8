"""The search box syntax: parse_query turns what a person typed into a SearchQuery.

    diffusion "score matching" -gan tag:ml kind:paper is:unread is:starred has:pdf
    year:2025 author:Song

- ``tag:x`` keeps items tagged x or a child of x (``tag:ml`` finds ``ml/diffusion``);
- ``kind:paper``, ``year:2025`` and ``author:Song`` may repeat (any of them matches);
- ``is:unread|reading|read``, ``is:starred``, ``has:pdf``; ``-is:starred`` and ``-has:pdf`` negate;
- ``"exact phrase"``; ``-word`` leaves out items containing the word;
- anything else, including unknown or malformed syntax (``foo:bar``, ``year:abc``, an unbalanced
  quote), is searched as plain words. Parsing never raises.

format_query(q) writes a query back in canonical form, so that
``parse_query(format_query(parse_query(x))) == parse_query(x)``.
"""

from __future__ import annotations

from app.search.base import SearchQuery, Sort

READ_STATES = ("unread", "reading", "read")
SORTS: tuple[Sort, ...] = ("relevance", "saved", "published")
MAX_LIMIT = 100


def _has_word(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _tokens(raw: str) -> list[tuple[str, bool]]:
    """Split into (token, is_phrase). A quote opens a phrase only at a token's start and only when
    closed; other quote characters are dropped."""
    out: list[tuple[str, bool]] = []
    i, n = 0, len(raw)
    while i < n:
        if raw[i].isspace():
            i += 1
            continue
        if raw[i] == '"':
            close = raw.find('"', i + 1)
            if close != -1:
                out.append((" ".join(raw[i + 1 : close].split()), True))
                i = close + 1
                continue
            i += 1  # unbalanced: forget the quote, read on as words
            continue
        j = i
        while j < n and not raw[j].isspace():
            j += 1
        token = raw[i:j].replace('"', "")
        if token:
            out.append((token, False))
        i = j
    return out


def _append_unique(values: list, value) -> None:
    if value not in values:
        values.append(value)


def _apply_filter(q: SearchQuery, key: str, value: str, negated: bool) -> bool:
    """Apply key:value to q; False when it is not valid syntax (then it is a plain word)."""
    if not value or not _has_word(value):
        return False
    low = value.lower()
    if key == "is":
        if low in READ_STATES and not negated:
            q.read_state = low
            return True
        if low == "starred":
            q.starred = not negated
            return True
        return False
    if key == "has":
        if low == "pdf":
            q.has_pdf = not negated
            return True
        return False
    if negated:
        return False
    if key == "tag":
        tag = low.strip("/")
        if not tag or not _has_word(tag):
            return False
        _append_unique(q.tags, tag)
        return True
    if key == "kind":
        _append_unique(q.kinds, low)
        return True
    if key == "year":
        if not (value.isascii() and value.isdigit() and 1 <= len(value) <= 4):
            return False
        _append_unique(q.years, int(value))
        return True
    if key == "author":
        _append_unique(q.authors, low)
        return True
    return False


def parse_query(
    raw: str, *, sort: str = "relevance", limit: int = 20, offset: int = 0
) -> SearchQuery:
    q = SearchQuery(
        sort=sort if sort in SORTS else "relevance",  # type: ignore[arg-type]
        limit=max(1, min(int(limit), MAX_LIMIT)),
        offset=max(0, int(offset)),
    )
    for token, is_phrase in _tokens(raw or ""):
        if is_phrase:
            if _has_word(token):
                _append_unique(q.phrases, token)
            continue
        negated = token.startswith("-") and len(token) > 1
        body = token[1:] if negated else token
        key, sep, value = body.partition(":")
        if sep and _apply_filter(q, key.lower(), value, negated):
            continue
        if not _has_word(body):
            continue
        if negated:
            _append_unique(q.excluded, body)
        else:
            q.terms.append(body)
    return q


def format_query(q: SearchQuery) -> str:
    """Canonical text for q (its filters and words, not sort or paging)."""
    parts: list[str] = list(q.terms)
    parts += [f'"{p}"' for p in q.phrases]
    parts += [f"-{w}" for w in q.excluded]
    parts += [f"tag:{t}" for t in q.tags]
    parts += [f"kind:{k}" for k in q.kinds]
    if q.read_state:
        parts.append(f"is:{q.read_state}")
    if q.starred is not None:
        parts.append("is:starred" if q.starred else "-is:starred")
    if q.has_pdf is not None:
        parts.append("has:pdf" if q.has_pdf else "-has:pdf")
    parts += [f"year:{y}" for y in q.years]
    parts += [f"author:{a}" for a in q.authors]
    return " ".join(parts)
