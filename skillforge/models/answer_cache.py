"""A persistent cache of model answers, so a compile killed part-way and run again pays only for what it
had not asked yet, and a compile with changed options reuses every request that did not change.

An answer is keyed by everything that changes it: the model's identity (:meth:`Model.cache_identity`: the
provider, the model, per-role settings such as Claude's effort, the local weights' hash and the engine's
version) and the whole request (system text, messages, schema, every sampling parameter and seed). A model
without an identity (a test double, a provider that cannot say what its answers depend on) is never
cached. Nothing secret is stored: requests and answers, never an API key.

The store is one SQLite file in WAL mode (``.skillforge/cache.sqlite`` next to the ledger by default;
``SKILLFORGE_CACHE`` moves it, so a team or CI can share one): each answer is committed as soon as it
arrives, so a process killed at any point loses only the calls in flight, and several compiles may share
it at once. Past ``max_bytes`` the least recently used answers are evicted. An entry that cannot be read
back (a damaged or foreign row) is skipped with a :class:`~skillforge.errors.CacheWarning` and asked again,
never answered wrongly.

A sampling provider (Claude samples every call) is deterministic only through the cache: a compile served
from it reuses the first answer to each request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from skillforge.errors import CacheWarning, ConfigurationError
from skillforge.models.base import Model, ModelRequest, ModelResponse, Role, Usage

#: The default size cap of a cache file.
DEFAULT_MAX_BYTES = 512 * 2**20
_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    cost REAL,
    size INTEGER NOT NULL,
    created REAL NOT NULL,
    used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_used ON answers (used);
"""


@dataclass(frozen=True)
class CacheStats:
    """What a cache holds."""

    path: Path
    entries: int
    bytes: int
    #: Answers per model id.
    by_model: dict[str, int]
    #: What the cached answers cost when they were first bought (``None`` where unpriced).
    cost_usd: float


class AnswerCache:
    """Answers by key in a SQLite file (see the module docstring). Safe across threads and processes."""

    def __init__(self, path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise ConfigurationError(f"an answer cache needs a positive size cap, got {max_bytes}")
        self.path = Path(path)
        if self.path.is_dir():
            raise ConfigurationError(f"the answer cache path {self.path} is a directory; give a file path")
        self.max_bytes = max_bytes
        self._local = threading.local()
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA busy_timeout=30000")
                db.executescript(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise ConfigurationError(f"cannot open the answer cache {self.path}: {exc}") from None
            self._local.db = db
        return db

    def get(self, key: str) -> ModelResponse | None:
        """The answer stored for ``key`` (``None``: none, or one that could not be read back)."""
        try:
            row = self._db().execute("SELECT response FROM answers WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            warnings.warn(CacheWarning(f"answer cache {self.path}: cannot read ({exc}); asking the model"),
                          stacklevel=2)
            return None
        if row is None:
            return None
        try:
            response = ModelResponse.model_validate_json(row[0])
        except (ValidationError, ValueError, TypeError) as exc:
            warnings.warn(CacheWarning(f"answer cache {self.path}: entry {key[:12]} is damaged ({type(exc).__name__});"
                                       " skipped and asked again"), stacklevel=2)
            return None
        # The recency stamp is a hint for eviction, not worth failing an answer for.
        with contextlib.suppress(sqlite3.Error):
            self._db().execute("UPDATE answers SET used = ? WHERE key = ?", (time.time(), key))
        return response

    def put(self, key: str, response: ModelResponse, cost: float | None) -> None:
        """Store ``response`` for ``key`` (committed at once), then evict past the size cap."""
        text = response.model_dump_json(exclude={"latency_s"})
        now = time.time()
        try:
            db = self._db()
            db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (key, response.model_id, text, cost, len(text), now, now))
            self._evict(db)
        except sqlite3.Error as exc:
            warnings.warn(CacheWarning(f"answer cache {self.path}: cannot write ({exc}); the answer is not kept"),
                          stacklevel=2)

    def _evict(self, db: sqlite3.Connection) -> None:
        total = db.execute("SELECT COALESCE(SUM(size), 0) FROM answers").fetchone()[0]
        if total <= self.max_bytes:
            return
        with self._lock:
            # Down to 90% of the cap, least recently used first, so eviction is not paid on every write.
            over = total - int(self.max_bytes * 0.9)
            rows = db.execute("SELECT key, size FROM answers ORDER BY used").fetchall()
            drop, freed = [], 0
            for key, size in rows:
                if freed >= over:
                    break
                drop.append((key,))
                freed += size
            db.executemany("DELETE FROM answers WHERE key = ?", drop)

    def stats(self) -> CacheStats:
        """Entries, bytes, answers per model and their original cost."""
        db = self._db()
        entries, size, cost = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(cost), 0) "
                                         "FROM answers").fetchone()
        by_model = dict(db.execute("SELECT model, COUNT(*) FROM answers GROUP BY model ORDER BY model").fetchall())
        return CacheStats(self.path, int(entries), int(size), {str(k): int(v) for k, v in by_model.items()},
                          float(cost))

    def clear(self, model: str | None = None) -> int:
        """Delete every answer (or ``model``'s only); returns how many."""
        db = self._db()
        cur = (db.execute("DELETE FROM answers") if model is None
               else db.execute("DELETE FROM answers WHERE model = ?", (model,)))
        db.execute("VACUUM")
        return int(cur.rowcount)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def answer_key(identity: dict[str, Any], request: ModelRequest) -> str:
    """The cache key of ``request`` to a model of ``identity``: a hash of both."""
    payload = json.dumps({"identity": identity, "request": request.cache_key(str(identity.get("model_id", "")))},
                         sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class CachedModel(Model):
    """``inner`` with its answers kept in ``cache``: a request asked before is answered from the cache,
    marked ``cached`` (it costs nothing; the ledger notes what it cost when first bought). A model
    without a :meth:`~skillforge.models.base.Model.cache_identity` is passed straight through."""

    def __init__(self, inner: Model, cache: AnswerCache) -> None:
        self.inner = inner
        self.cache = cache
        self.identity = inner.cache_identity()
        self.model_id = inner.model_id
        for flag in ("supports_logprobs", "supports_choice_scores", "supports_structured_output", "is_local",
                     "supports_temperature", "supports_batch", "supports_embeddings"):
            setattr(self, flag, getattr(inner, flag))
        #: Answers served from the cache, and asked of the model, by this instance.
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> Any:
        # Provider extras (count_tokens, path, ...) read through to the model.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def cache_identity(self) -> dict[str, Any] | None:
        return self.identity

    async def request(self, request: ModelRequest) -> ModelResponse:
        if self.identity is None:
            return await self.inner.request(request)
        key = answer_key(self.identity, request)
        hit = self.cache.get(key)
        if hit is not None:
            self.hits += 1
            return hit.model_copy(update={"cached": True, "latency_s": 0.0})
        response = await self.inner.request(request)
        self.misses += 1
        self.cache.put(key, response, self.inner.cost_of(response))
        return response

    async def prefill(self, request: ModelRequest) -> None:
        await self.inner.prefill(request)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await self.inner.embed(texts)

    def check_schema(self, schema: dict[str, Any]) -> None:
        self.inner.check_schema(schema)

    def cost_usd(self, usage: Usage, *, batch: bool = False) -> float | None:
        return self.inner.cost_usd(usage, batch=batch)

    def for_role(self, role: Role) -> Model:
        inner = self.inner.for_role(role)
        return self if inner is self.inner else CachedModel(inner, self.cache)
