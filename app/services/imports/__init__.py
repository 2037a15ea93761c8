"""Imports: one module per format behind one interface (base.Importer); run.py turns entries into items."""

from __future__ import annotations

from app.services.imports.base import Importer
from app.services.imports.bibtex import BibtexImporter
from app.services.imports.bookmarks import BookmarksImporter
from app.services.imports.csl_json import CslJsonImporter
from app.services.imports.url_list import UrlListImporter
from app.services.imports.x_archive import XArchiveImporter

IMPORTERS: dict[str, Importer] = {
    i.name: i for i in (BibtexImporter(), CslJsonImporter(), BookmarksImporter(), XArchiveImporter(), UrlListImporter())
}


def get_importer(name: str) -> Importer:
    try:
        return IMPORTERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown import format {name!r}; one of: {', '.join(IMPORTERS)}") from None
