"""Import a generated 10,000-entry BibTeX file into a fresh instance, then search it.

    .venv/bin/python bench/import_bench.py [--entries 10000] [--database-url URL]

Prints a table: parse, import (batched inserts), index, first search, and the total, which the
acceptance bar wants under 120 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import Settings  # noqa: E402
from app.db import make_engine, make_session_factory  # noqa: E402
from app.migrate import upgrade_database  # noqa: E402
from app.search.base import SearchQuery  # noqa: E402
from app.search.factory import make_search_backend  # noqa: E402
from app.services.imports import get_importer  # noqa: E402
from app.services.imports.run import import_entries, read_entries  # noqa: E402
from app.services.indexing import apply_pending  # noqa: E402

WORDS = ("diffusion language model score matching transformer attention reinforcement learning graph "
         "neural network sparse retrieval alignment preference optimization vision robotics").split()


def make_bib(n: int, seed: int = 7, *, start: int = 0, marker: str = "", identifiers: bool = True) -> str:
    """``n`` entries numbered from ``start`` (their arXiv ids, DOIs and URLs follow the number, so
    two files with different starts share no paper); ``marker`` ends the last entry's title.
    Without ``identifiers`` the entries have none of those: nothing is fetched for them after
    the import (with them, the worker goes on to fetch each paper's page or PDF)."""
    rnd = random.Random(seed)
    out = []
    for i in range(start, start + n):
        title = " ".join(rnd.choice(WORDS) for _ in range(6)).title()
        if marker and i == start + n - 1:
            title += f" {marker}"
        authors = " and ".join(f"Author{rnd.randrange(5000)}, First{rnd.randrange(100)}" for _ in range(rnd.randint(1, 6)))
        ident = "" if not identifiers else (f"  eprint = {{{2300 + i // 99999}.{i % 99999:05d}}},\n  archivePrefix = {{arXiv}},\n" if i % 3 == 0
                 else f"  doi = {{10.5555/bench.{i}}},\n" if i % 3 == 1 else f"  url = {{https://example.org/paper/{i}}},\n")
        out.append(f"@article{{key{i},\n  title = {{{title} {i}}},\n  author = {{{authors}}},\n  year = {{{2000 + i % 26}}},\n"
                   f"{ident}  keywords = {{{rnd.choice(WORDS)}, {rnd.choice(WORDS)}}},\n"
                   f"  abstract = {{{' '.join(rnd.choice(WORDS) for _ in range(60))}}},\n}}\n")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), secret_key="bench-secret-key-0123456789", database_url=args.database_url)
        settings.ensure_data_dir()
        engine = make_engine(settings)
        upgrade_database(engine)
        factory = make_session_factory(engine)
        backend = make_search_backend(settings)
        backend.setup()
        data = make_bib(args.entries).encode()
        rows = []
        t0 = time.perf_counter()
        entries, skipped, _ = read_entries(get_importer("bibtex"), data)
        t1 = time.perf_counter()
        summary = import_entries(factory, settings, entries, source="bibtex")
        t2 = time.perf_counter()
        apply_pending(factory, backend, batch=500)
        t3 = time.perf_counter()
        found = backend.search(SearchQuery(terms=["diffusion"], limit=5))
        probe = backend.search(SearchQuery(terms=[f"{args.entries - 1}"], limit=5))
        t4 = time.perf_counter()
        rows = [("parse", t1 - t0), ("import (batched inserts)", t2 - t1), ("index", t3 - t2),
                ("search", t4 - t3), ("total", t4 - t0)]
        print(f"BibTeX import of {args.entries} entries ({len(data) / 1e6:.1f} MB), {settings.search_backend} search, "
              f"{engine.dialect.name}")
        print(f"created {summary.created}, merged {summary.merged}, skipped {len(skipped) + len(summary.skipped)}; "
              f"'diffusion' finds {found.total}, the last entry is found: {probe.total >= 1}")
        print(f"{'step':<26}{'seconds':>10}")
        for name, secs in rows:
            print(f"{name:<26}{secs:>10.2f}")
        ok = rows[-1][1] < 120 and probe.total >= 1 and summary.created == args.entries
        print("PASS (under 120 s and searchable)" if ok else "FAIL")
        backend.close()
        engine.dispose()
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
