"""Raw PyMuPDF text extraction against the sandboxed extraction step, over the shared PDFs.

    .venv/bin/python bench/extract_bench.py [--pdfs DIR] [--rounds N]

Prints pages/s of plain ``page.get_text()`` in this process and of ``extract_in_child`` (child
process per PDF, limits applied, title guess and arXiv stamp included), and their ratio. The
sandbox's one-time server start is counted in the first round and reported separately.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pymupdf  # noqa: E402

from app.config import Settings  # noqa: E402
from app.extract.sandbox import ExtractSandbox  # noqa: E402

DEFAULT_PDFS = Path(__file__).resolve().parents[2] / "shared" / "pdfs"


def raw(paths: list[Path]) -> tuple[int, float]:
    pages = 0
    start = time.perf_counter()
    for path in paths:
        with pymupdf.open(path) as doc:
            for page in doc:
                page.get_text()
                pages += 1
    return pages, time.perf_counter() - start


def sandboxed(paths: list[Path], sandbox: ExtractSandbox, settings: Settings) -> tuple[int, float]:
    pages = 0
    start = time.perf_counter()
    for path in paths:
        result = sandbox.extract(
            path,
            timeout=settings.extract_timeout,
            max_pages=settings.extract_max_pages,
            memory_mb=settings.extract_max_memory_mb,
            max_bytes=settings.fetch_max_bytes,
        )
        pages += len(result.pages)
    return pages, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    paths = sorted(args.pdfs.glob("*.pdf"))
    if not paths:
        print(f"no PDFs in {args.pdfs}", file=sys.stderr)
        return 2
    settings = Settings()
    sandbox = ExtractSandbox()
    print(f"{len(paths)} PDFs from {args.pdfs}")
    print(f"{'round':>5} {'pages':>6} {'raw p/s':>9} {'sandbox p/s':>12} {'ratio':>6}")
    ratios = []
    try:
        for round_number in range(1, args.rounds + 1):
            raw_pages, raw_seconds = raw(paths)
            box_pages, box_seconds = sandboxed(paths, sandbox, settings)
            assert raw_pages == box_pages, (raw_pages, box_pages)
            raw_rate, box_rate = raw_pages / raw_seconds, box_pages / box_seconds
            ratios.append(box_rate / raw_rate)
            print(
                f"{round_number:>5} {raw_pages:>6} {raw_rate:>9.1f} {box_rate:>12.1f} {ratios[-1]:>6.2f}"
            )
    finally:
        sandbox.close()
    print(
        f"ratio: first round (includes server start) {ratios[0]:.2f}, best {max(ratios):.2f}, worst {min(ratios):.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
