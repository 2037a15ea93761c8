"""SQLAlchemy 2 typed models. No queries here: those live in app.repo."""

from app.models.base import Base, utcnow
from app.models.file import File, FilePage
from app.models.import_job import ImportJob
from app.models.index_queue import IndexPending
from app.models.item import ACTIVE_STATUSES, Item, ItemKind, ItemStatus, ReadState
from app.models.library_state import LibraryState
from app.models.note import Note
from app.models.saved_search import SavedSearch
from app.models.tag import Tag, item_tags
from app.models.user import ApiToken, User, WebSession

__all__ = [
    "ACTIVE_STATUSES",
    "ApiToken",
    "Base",
    "File",
    "FilePage",
    "ImportJob",
    "IndexPending",
    "Item",
    "ItemKind",
    "ItemStatus",
    "LibraryState",
    "Note",
    "ReadState",
    "SavedSearch",
    "Tag",
    "User",
    "WebSession",
    "item_tags",
    "utcnow",
]
