"""Settings: the only place that reads environment variables.

Every field is documented in the README's configuration table (tests/test_docs.py keeps it complete).
Environment variables carry the ``LECTERN_`` prefix: ``LECTERN_DATA_DIR``, ``LECTERN_DATABASE_URL`` ...
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

UNSAFE_SECRETS = {"", "change-me", "changeme", "secret", "dev"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LECTERN_", env_file=None, extra="ignore")

    environment: Literal["development", "production"] = Field(
        "development", description="`production` refuses an unsafe secret key and sets secure cookies."
    )
    data_dir: Path = Field(Path("data"), description="Where the SQLite files, stored PDFs and the generated secret live.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite at `<data_dir>/lectern.db`.")
    sqlite_busy_timeout: float = Field(
        15.0, description="Seconds a request waits for a locked SQLite database before answering 503."
    )
    sqlite_web_checkpoint_pages: int = Field(
        10000, ge=0,
        description="Pages (4 KB) the SQLite write-ahead log may hold before a commit of the web process copies "
        "them into the database (a checkpoint); the worker's commits do it at SQLite's default of 1000 pages, so a "
        "save seldom waits for one. 0: the web process never does.",
    )
    slow_sql_ms: float = Field(
        0.0, ge=0,
        description="Log (WARNING, logger lectern.sql) every SQL statement slower than this many milliseconds, "
        "with the CPU time its thread spent in it: a statement that waited for a lock or for the CPU shows "
        "little CPU. 0 logs nothing.",
    )
    broker_url: str = Field(
        "", description="Celery broker; empty means kombu's SQLite transport at `<data_dir>/broker.db`."
    )
    search_backend: Literal["embedded", "meilisearch"] = Field(
        "embedded", description="`embedded` (SQLite FTS5 beside the database) or `meilisearch`."
    )
    meili_url: str = Field("http://127.0.0.1:7700", description="Meilisearch base URL.")
    meili_key: str = Field("", description="Meilisearch API key (the master key or an admin key).")
    meili_index: str = Field("lectern", description="Name of the Meilisearch index this instance owns.")
    secret_key: str = Field(
        "", description="Signs sessions and CSRF tokens; generated into `<data_dir>/secret_key` when empty."
    )
    password: str = Field(
        "", description="Owner password set on first start; when empty the browser asks for one."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Proxies (IPs or CIDRs, JSON list) whose X-Forwarded-For is believed; nobody else's is.",
    )
    login_max_failures: int = Field(10, description="Failed logins from one address before it must wait.")
    login_window_seconds: float = Field(900.0, description="Window in which failed logins are counted.")
    host: str = Field("127.0.0.1", description="Address `lectern serve` binds.")
    port: int = Field(8000, description="Port `lectern serve` binds.")
    worker_concurrency: int = Field(1, description="Worker processes `lectern serve` and `lectern worker` start.")
    gil_switch_ms: float = Field(
        1.0, gt=0, le=100,
        description="Longest the web process's threads hold Python's lock while another waits (Python's default: 5 ms): "
        "a save or a page waits less behind a search.",
    )
    worker_nice: int = Field(
        10, ge=0, le=19,
        description="CPU niceness the worker runs at (0-19): fetching and extraction yield the CPU to pages people wait on.",
    )
    arxiv_api_url: str = Field("https://export.arxiv.org/api/query", description="arXiv API (Atom) endpoint.")
    arxiv_pdf_url: str = Field("https://arxiv.org/pdf", description="Base URL arXiv PDFs are fetched from.")
    crossref_api_url: str = Field("https://api.crossref.org/works", description="Crossref works endpoint.")
    openreview_api_url: str = Field(
        "https://api2.openreview.net",
        description="OpenReview API base URL (notes and PDFs of openreview.net forums); "
        "pre-2023 forums are asked at the same address with `api2.` replaced by `api.`.",
    )
    oembed_url: str = Field(
        "https://publish.twitter.com/oembed", description="Tweet oEmbed endpoint used when only a tweet URL arrives."
    )
    fetch_timeout: float = Field(20.0, description="Seconds one outbound fetch may take in all.")
    fetch_max_bytes: int = Field(100 * 1024 * 1024, description="Largest body an outbound fetch reads.")
    fetch_allow_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts (or IPs) outbound fetches may reach even when they resolve to a private address; JSON list.",
    )
    upload_max_bytes: int = Field(100 * 1024 * 1024, description="Largest upload or request body accepted.")
    extract_timeout: float = Field(120.0, description="Seconds PDF extraction may run in its child process.")
    extract_max_pages: int = Field(2000, description="Pages beyond this are not extracted.")
    extract_max_memory_mb: int = Field(1024, description="Address-space limit of the extraction child process.")
    job_lease_seconds: int = Field(60, description="How long a job holds its item before the sweeper may re-run it.")
    job_requeue_seconds: int = Field(
        300, description="A queued item not picked up within this many seconds is enqueued again by the sweeper."
    )
    job_max_attempts: int = Field(3, description="Attempts before an item is marked failed for good.")
    sweep_interval: float = Field(15.0, description="Seconds between sweeper runs (re-enqueue lost jobs, index backlog).")
    broker_polling_interval: float = Field(0.2, description="Seconds between polls of the SQLite broker.")
    feeds_public: bool = Field(
        False, description="Serve the Atom feed of each tag (`/feeds/tags/<tag>.atom`) without login."
    )

    @model_validator(mode="after")
    def _refuse_unsafe_production_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key in UNSAFE_SECRETS:
            raise ValueError("LECTERN_SECRET_KEY must be set to a long random value in production")
        return self

    # Derived values -------------------------------------------------------------------------

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "lectern.db"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'lectern.db'}"

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{self.data_dir.resolve() / 'broker.db'}"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def search_db_path(self) -> Path:
        return self.data_dir / "search.db"

    def ensure_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.files_dir.mkdir(parents=True, exist_ok=True)

    def effective_secret_key(self) -> str:
        """The configured secret, or one generated once and kept in the data directory."""
        if self.secret_key:
            return self.secret_key
        self.ensure_data_dir()
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
