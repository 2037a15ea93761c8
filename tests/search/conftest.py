"""Backends for the search tests: each test runs against the embedded index and a real Meilisearch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from app.search.base import SearchBackend, SearchDocument
from app.search.embedded import EmbeddedBackend
from app.search.meili import MeiliBackend
from tests.fixtures.meili import unique_index_name
from tests.search.samples import load_iclr, saved

BACKENDS = ["embedded", "meilisearch"]
FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "


def open_backend(name: str, request: pytest.FixtureRequest, tmp_path_factory) -> SearchBackend:
    if name == "embedded":
        backend: SearchBackend = EmbeddedBackend(tmp_path_factory.mktemp("search") / "search.db")
    else:
        server = request.getfixturevalue("meili_server")
        backend = MeiliBackend(server.url, server.key, unique_index_name("lectern"))
    backend.setup()
    return backend


def iclr_documents() -> list[SearchDocument]:
    docs = []
    for n, s in enumerate(load_iclr()):
        docs.append(
            SearchDocument(
                item_id=n + 1,
                kind="paper",
                title=s.title,
                abstract=s.chinese + "\n" + s.abstract,
                tags=s.keywords,
                year=2026,
                saved_at=saved(n),
                published_at=datetime(2025, 9, 1, tzinfo=UTC),
            )
        )
    return docs


def hand_documents() -> list[SearchDocument]:
    """Small documents, each for one behaviour; ids from 10001, saved after the ICLR ones."""
    t = 1000  # hours after BASE_TIME: newer than every ICLR item
    return [
        SearchDocument(
            item_id=10001, kind="paper", title="Toolformer: Language Models Can Teach Themselves to Use Tools",
            authors=["Timo Schick", "Jane Dwivedi-Yu"], tags=["ml/agents"], year=2023, has_pdf=True,
            read_state="read", starred=True, saved_at=saved(t + 1),
            published_at=datetime(2023, 2, 9, tzinfo=UTC),
            pages=["Introduction. Language models exhibit remarkable abilities.", "Method: API calls.", "Results."],
        ),
        SearchDocument(
            item_id=10002, kind="paper", title="Score-Based Generative Modeling through Stochastic Differential Equations",
            authors=["Yang Song", "Stefano Ermon"], tags=["ml/diffusion"], year=2021, has_pdf=True,
            abstract="We solve a stochastic differential equation that transforms a prior distribution.",
            notes=["The score is $\\nabla_x \\log p_t(x)$, estimated by a network."],
            saved_at=saved(t + 2), published_at=datetime(2021, 5, 3, tzinfo=UTC),
            pages=["Page one intro.", "Page two background.", "On this page the Fokker-Planck equation appears."],
        ),
        SearchDocument(
            item_id=10003, kind="tweet", body="Just tried DPO 偏好优化 on a 7B model, 安装简单 and it works",
            tags=["ml"], site="x.com", year=2025, saved_at=saved(t + 3),
        ),
        SearchDocument(
            item_id=10004, kind="post", title="<script>alert('x')</script> Attention Is All You Need, reviewed",
            body="The Transformer architecture replaced recurrence with attention.", tags=["nlp"],
            read_state="reading", year=2024, saved_at=saved(t + 4),
        ),
        SearchDocument(
            item_id=10005, kind="post", title="大模型笔记", notes=["这个模型参数量很大"], year=2024, saved_at=saved(t + 5),
        ),
        # Ranking by field: the lower the field, the newer the item (so dates alone would invert).
        SearchDocument(item_id=10010, kind="paper", title="The wombat genome", saved_at=saved(t + 10)),
        SearchDocument(
            item_id=10011, kind="paper", title="Marsupial burrows", abstract="The wombat digs burrows.",
            saved_at=saved(t + 11),
        ),
        SearchDocument(item_id=10012, kind="paper", title="Field notes", notes=["saw a wombat"], saved_at=saved(t + 12)),
        SearchDocument(
            item_id=10013, kind="paper", title="Soil survey", has_pdf=True, pages=["nothing", "a wombat hole"],
            saved_at=saved(t + 13),
        ),
        # Exact before prefix before typo (newest last again).
        SearchDocument(item_id=10020, kind="paper", title="quokka habitats", saved_at=saved(t + 20)),
        SearchDocument(item_id=10021, kind="paper", title="quokkas everywhere", saved_at=saved(t + 21)),
        SearchDocument(item_id=10022, kind="paper", title="quokke misspelled", saved_at=saved(t + 22)),
        # Ties: same field, same word: newer first.
        SearchDocument(item_id=10030, kind="post", title="numbat facts", saved_at=saved(t + 30)),
        SearchDocument(item_id=10031, kind="post", title="numbat photos", saved_at=saved(t + 31)),
        # Short words get no typo.
        SearchDocument(item_id=10040, kind="post", title="vorp", saved_at=saved(t + 40)),
        # Beyond Meilisearch's 65,535 words per attribute: a word after 70,000 others, on page 2.
        SearchDocument(
            item_id=10050, kind="paper", title="A very long report", has_pdf=True, saved_at=saved(t + 50),
            pages=["short first page", FILLER * 5850 + " zebrafinch", "third page mentions kakapo"],
        ),
    ]


@pytest.fixture(scope="module", params=BACKENDS)
def corpus(request, tmp_path_factory) -> Iterator[SearchBackend]:
    """A backend holding the ICLR digest and the hand-made documents (read-only tests)."""
    backend = open_backend(request.param, request, tmp_path_factory)
    backend.upsert(iclr_documents() + hand_documents())
    yield backend
    backend.clear()
    backend.close()


@pytest.fixture(params=BACKENDS)
def empty_backend(request, tmp_path_factory) -> Iterator[SearchBackend]:
    backend = open_backend(request.param, request, tmp_path_factory)
    yield backend
    backend.close()
