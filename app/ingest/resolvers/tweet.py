"""Posts on X: from what the bookmarklet captured, else from the oEmbed endpoint."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from app.extract.html import Node, parse_date, parse_html
from app.ingest.base import Identity, ResolveContext, Resolved, ResolveError
from app.ingest.canonical import parse_reference, reference_or_none

TITLE_CHARS = 120


class TweetResolver:
    name = "tweet"

    def score(self, url: str) -> float:
        ref = reference_or_none(url)
        return 0.9 if ref is not None and ref.tweet_id else 0.0

    def identify(self, url: str) -> Identity:
        ref = parse_reference(url)
        # The status id is the tweet's identity whatever handle (or renamed handle) the link names.
        canonical = f"https://x.com/i/status/{ref.tweet_id}" if ref.tweet_id else ref.url
        return Identity(canonical_url=canonical, kind="tweet", site="X", tweet_id=ref.tweet_id)

    def resolve(self, ctx: ResolveContext) -> Resolved:
        ref = parse_reference(ctx.url)
        extra: dict[str, object] = {"tweet_id": ref.tweet_id}
        if ref.handle:
            extra["handle"] = ref.handle
        capture = ctx.capture
        if capture is not None and capture.text.strip():
            handle = str(capture.extra.get("handle") or ref.handle or "").lstrip("@")
            extra.update({k: v for k, v in capture.extra.items() if k not in {"handle"}})
            if handle:
                extra["handle"] = handle
            author = str(capture.extra.get("author_name") or (f"@{handle}" if handle else ""))
            return Resolved(
                kind="tweet",
                title=capture.title or _title(capture.text),
                authors=[author] if author else [],
                text=capture.text.strip(),
                site="X",
                published_at=parse_date(str(capture.extra.get("date", ""))),
                extra=extra,
            )
        try:
            return self._from_oembed(ctx, ref.url, extra)
        except ResolveError as exc:  # FetchError included: the item still saves, marked for capture
            extra.update({"needs_capture": True, "oembed_error": str(exc)})
            return Resolved(
                kind="tweet",
                authors=[f"@{ref.handle}"] if ref.handle else [],
                site="X",
                extra=extra,
            )

    def _from_oembed(
        self, ctx: ResolveContext, tweet_url: str, extra: dict[str, object]
    ) -> Resolved:
        query = urlencode({"url": tweet_url, "omit_script": "1", "dnt": "true"})
        response = ctx.http.get(f"{ctx.settings.oembed_url}?{query}")
        try:
            answer = json.loads(response.content)
        except ValueError as exc:
            raise ResolveError("the oEmbed endpoint answered something that is not JSON") from exc
        if not isinstance(answer, dict) or not answer.get("html"):
            raise ResolveError("the oEmbed answer has no tweet in it")
        tweet = parse_oembed_html(str(answer["html"]))
        author = str(answer.get("author_name") or tweet["author_name"] or "")
        handle = tweet["handle"] or str(answer.get("author_url", "")).rstrip("/").rsplit("/", 1)[-1]
        if handle:
            extra["handle"] = handle
        extra["links"] = tweet["links"]
        return Resolved(
            kind="tweet",
            title=_title(tweet["text"]),
            authors=[author] if author else ([f"@{handle}"] if handle else []),
            text=tweet["text"],
            site="X",
            published_at=parse_date(tweet["date"]),
            extra=extra,
        )


def parse_oembed_html(markup: str) -> dict[str, object]:
    """text, author_name, handle, date text and links of oEmbed's ``<blockquote class="twitter-tweet">``:
    ``<p>text</p>&mdash; Name (@handle) <a href=".../status/1">February 14, 2025</a>``."""
    root = parse_html(markup)
    quote = next((n for n in root.iter("blockquote")), root)
    paragraph = next(quote.iter("p"), None)
    text = _text_with_breaks(paragraph) if paragraph is not None else ""
    links = [
        a.attrs.get("href", "") for a in (paragraph.iter("a") if paragraph is not None else [])
    ]
    tail = "".join(c if isinstance(c, str) else "" for c in quote.children)
    author_name, handle = "", ""
    if "(@" in tail:
        before, _, after = tail.partition("(@")
        author_name = before.replace("\u2014", "").strip()
        handle = after.split(")", 1)[0].strip()
    anchors = [a for a in quote.children if isinstance(a, Node) and a.tag == "a"]
    date_text = anchors[-1].text().strip() if anchors else ""
    return {"text": text, "author_name": author_name, "handle": handle, "date": date_text,
            "links": [link for link in links if link]}  # fmt: skip


def _text_with_breaks(node: Node) -> str:
    parts: list[str] = []
    for child in node.children:
        if isinstance(child, str):
            parts.append(child)
        elif child.tag == "br":
            parts.append("\n")
        else:
            parts.append(_text_with_breaks(child))
    return "".join(parts).strip()


def _title(text: str) -> str:
    first = " ".join(text.split())
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1].rstrip() + "…"
