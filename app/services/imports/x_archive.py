"""The X (Twitter) data archive's likes and bookmarks: ``data/like.js`` is
``window.YTD.like.part0 = [{"like": {"tweetId": "..", "fullText": "..", "expandedUrl": ".."}}, ..]``;
bookmark files have the same shape under ``"bookmark"``. The tweet text is kept, so years of likes
become searchable before (or without) fetching anything."""

from __future__ import annotations

import json
from collections.abc import Iterator

from app.services.imports.base import Entry, Skipped, UnreadableFile, decode_text, short


def _payload(text: str):
    text = text.strip()
    if text.startswith("window."):
        eq = text.find("=")
        if eq == -1:
            raise UnreadableFile("expected `window.YTD.<name>.part0 = [...]`")
        text = text[eq + 1 :].strip().rstrip(";")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(f"the archive file is not valid JSON after its `window.YTD` prefix: {exc}") from exc


def entries_of(doc) -> Iterator[Entry | Skipped]:
    if not isinstance(doc, list):
        raise UnreadableFile("expected a list of likes or bookmarks")
    for i, wrapper in enumerate(doc):
        obj = next(iter(wrapper.values()), None) if isinstance(wrapper, dict) and len(wrapper) == 1 else wrapper
        if not isinstance(obj, dict):
            yield Skipped(entry=f"entry {i + 1}", reason="not an object")
            continue
        tweet_id = str(obj.get("tweetId") or obj.get("tweet_id") or obj.get("id") or "").strip()
        if not tweet_id.isdigit():
            yield Skipped(entry=f"entry {i + 1}", reason="no numeric tweetId")
            continue
        text = str(obj.get("fullText") or obj.get("full_text") or "").strip()
        url = str(obj.get("expandedUrl") or "")
        if "/status/" not in url:
            url = f"https://x.com/i/status/{tweet_id}"
        yield Entry(ref=url, label=short(text, 60) or tweet_id, kind="tweet", text=text,
                    title=short(text, 120), extra={"tweet_id": tweet_id})


class XArchiveImporter:
    name = "x-archive"
    label = "X archive likes and bookmarks (like.js, bookmark*.js, or the archive .zip)"
    suffixes = ("like.js", "bookmark.js", "bookmarks.js")

    def parse(self, data: bytes) -> Iterator[Entry | Skipped]:
        yield from entries_of(_payload(decode_text(data)))
