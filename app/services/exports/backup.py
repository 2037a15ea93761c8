"""The full backup (one zip) and ``lectern restore``.

``backup.json`` holds every row of the library's tables (items, tags and their links, notes with
``parent_id`` so threads keep their shape, stored files and their extracted pages, the owner account
and API token hashes); ``files/`` holds the stored PDFs (and thumbnails) by content hash. Restoring
into an empty instance inserts the rows with their ids, writes the files back (checking each hash)
and rebuilds the search index, so the restored library is the same library.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Date, DateTime
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.models.base import UTCDateTime
from app.repo import exports as exports_repo
from app.search.base import SearchBackend
from app.services.imports.zipsafe import SafeZip, UnsafeZip

FORMAT = "lectern-backup"
VERSION = 1
KEPT_SETTINGS = ("search_backend", "feeds_public")


class RestoreError(ValueError):
    pass


def _plain(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def make_backup(factory: sessionmaker[Session], settings: Settings) -> bytes:
    with factory() as session:
        tables = {name: [{k: _plain(v) for k, v in row.items()} for row in exports_repo.table_rows(session, name)]
                  for name in exports_repo.BACKUP_TABLES}
    doc = {
        "format": FORMAT, "version": VERSION,
        "settings": {k: getattr(settings, k) for k in KEPT_SETTINGS if hasattr(settings, k)},
        "tables": tables,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("backup.json", json.dumps(doc, ensure_ascii=False, indent=1))
        for row in tables["files"]:
            sha = row["sha256"]
            rel = f"{sha[:2]}/{sha[2:4]}/{sha}"
            for suffix in (".pdf", ".png"):
                path = settings.files_dir / f"{rel}{suffix}"
                if path.exists():
                    zf.write(path, f"files/{rel}{suffix}", compress_type=zipfile.ZIP_STORED)
    return buf.getvalue()


def _typed(name: str, rows: list[dict]) -> list[dict]:
    table = exports_repo.table(name)
    kinds = {}
    for col in table.columns:
        if isinstance(col.type, UTCDateTime | DateTime):
            kinds[col.name] = datetime.fromisoformat
        elif isinstance(col.type, Date):
            kinds[col.name] = date.fromisoformat
    known = set(table.columns.keys())
    out = []
    for row in rows:
        clean = {k: v for k, v in row.items() if k in known}
        for k, conv in kinds.items():
            if isinstance(clean.get(k), str):
                clean[k] = conv(clean[k])
        out.append(clean)
    return out


def restore_backup(factory: sessionmaker[Session], settings: Settings, data: bytes,
                   search: SearchBackend | None = None) -> dict[str, int]:
    """Rebuild an empty instance from a backup; refuses an instance that already has items."""
    try:
        archive = SafeZip(data)
        doc = json.loads(archive.read("backup.json"))
    except (UnsafeZip, KeyError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RestoreError(f"not a Lectern backup: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("tables"), dict):
        raise RestoreError("not a Lectern backup (backup.json has no lectern-backup tables)")
    if doc.get("version") != VERSION:
        raise RestoreError(f"backup version {doc.get('version')} is not supported (this Lectern reads {VERSION})")
    tables = doc["tables"]
    counts: dict[str, int] = {}
    with factory() as session:
        if exports_repo.count_rows(session, "items") or exports_repo.count_rows(session, "tags"):
            raise RestoreError("this instance already has items; restore into an empty instance")
        has_owner = exports_repo.count_rows(session, "users") > 0
        try:
            for name in exports_repo.BACKUP_TABLES:
                if name in ("users", "api_tokens") and has_owner:
                    continue  # the owner set up here already (LECTERN_PASSWORD) stays
                rows = _typed(name, [r for r in tables.get(name, []) if isinstance(r, dict)])
                if name == "notes":
                    rows.sort(key=lambda r: r.get("id", 0))  # parents before replies
                exports_repo.insert_rows(session, name, rows)
                counts[name] = len(rows)
            exports_repo.reset_sequences(session, exports_repo.BACKUP_TABLES)
        except (ValueError, TypeError) as exc:
            session.rollback()
            raise RestoreError(f"the backup's data is not valid: {exc}") from exc
        _restore_files(archive, settings, tables.get("files", []))
        session.commit()
    if search is not None:
        from app.services.indexing import reindex_all

        reindex_all(factory, search)
    return {k: v for k, v in counts.items() if k in ("items", "tags", "notes", "files")}


def _restore_files(archive: SafeZip, settings: Settings, files: list) -> None:
    for row in files:
        sha = str(row.get("sha256", ""))
        if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
            raise RestoreError(f"bad file hash in the backup: {sha[:80]!r}")
        rel = f"{sha[:2]}/{sha[2:4]}/{sha}"
        for suffix in (".pdf", ".png"):
            name = f"files/{rel}{suffix}"
            if name not in archive.members:
                continue
            blob = archive.read(name)
            if suffix == ".pdf" and hashlib.sha256(blob).hexdigest() != sha:
                raise RestoreError(f"the stored PDF {sha[:12]} in the backup is damaged")
            target = Path(settings.files_dir) / f"{rel}{suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
