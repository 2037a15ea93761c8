"""make_search_backend: the one place that turns Settings into a search backend."""

from __future__ import annotations

from app.config import Settings
from app.search.base import SearchBackend


def make_search_backend(settings: Settings) -> SearchBackend:
    """The backend settings.search_backend names; not set up yet (call .setup() once at start)."""
    if settings.search_backend == "meilisearch":
        from app.search.meili import MeiliBackend

        return MeiliBackend(settings.meili_url, settings.meili_key, settings.meili_index)
    from app.search.embedded import EmbeddedBackend

    return EmbeddedBackend(settings.search_db_path)
