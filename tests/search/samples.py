"""Search documents built from ../shared/samples/iclr-digest-part1.txt (355 bilingual summaries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared"
ICLR_DIGEST = SHARED / "samples" / "iclr-digest-part1.txt"
ABSTRACT_MARK = "查看完整摘要 (Abstract)"


@dataclass(slots=True)
class Summary:
    category: str
    keywords: list[str]
    tldr: str
    chinese: str  # the emoji-prefixed Chinese lines, joined
    abstract: str

    @property
    def title(self) -> str:
        """The digest has no titles: the abstract's first sentence stands in."""
        first = self.abstract.split(". ")[0].strip()
        return first[:160]


def load_iclr(path: Path = ICLR_DIGEST) -> list[Summary]:
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("#")]
    out: list[Summary] = []
    for n, kw_line in enumerate(starts):
        end = starts[n + 1] - 2 if n + 1 < len(starts) else len(lines)
        block = lines[kw_line:end]
        try:
            mark = block.index(ABSTRACT_MARK)
        except ValueError:
            continue
        head = block[1:mark]
        tldr = " ".join(line.removeprefix("TL;DR:") for line in head if line.startswith("TL;DR:"))
        chinese = "\n".join(line for line in head if not line.startswith("TL;DR:"))
        keywords = [k.strip() for k in block[0].replace(";", "#").split("#") if k.strip()]
        out.append(
            Summary(
                category=lines[kw_line - 1].strip(),
                keywords=keywords,
                tldr=tldr,
                chinese=chinese,
                abstract=" ".join(line.strip() for line in block[mark + 1 :] if line.strip()),
            )
        )
    return out


BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)


def saved(n: int) -> datetime:
    return BASE_TIME + timedelta(hours=n)
