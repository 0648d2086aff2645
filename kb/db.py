"""Engine, sessions and schema migrations of the system of record."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from core.errors import BackendUnavailableError, ConflictError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
log = logging.getLogger("firstline.db")


def make_engine(url: str, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite files get WAL so the API can read while a CLI ingests."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as e:
        raise BackendUnavailableError(f"database unreachable: {_short(e)}") from e


def _short(e: SQLAlchemyError) -> str:
    return str(getattr(e, "orig", e)).strip().splitlines()[0]


class Database:
    """Lazily connected database; constructing it does no I/O."""

    def __init__(self, url: str, echo: bool = False) -> None:
        self.url = url
        self.echo = echo
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._init_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._init_lock:  # the sync worker and a request may both be first
            if self._engine is None:
                engine = make_engine(self.url, self.echo)
                migrate(engine)
                self._sessions = sessionmaker(engine, expire_on_commit=False)
                self._engine = engine
        return self._engine

    @contextmanager
    def session(self, within: Session | None = None) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises.

        ``within``: the caller's unit of work, joined as it is (no commit here), so that a
        workflow's change, its events and its audit entry commit together or not at all."""
        if within is not None:
            yield within
            return
        self.engine  # noqa: B018 - connects and migrates on first use
        assert self._sessions is not None
        session = self._sessions()
        try:
            yield session
            session.commit()
        except OperationalError as e:
            session.rollback()
            raise BackendUnavailableError(f"database error: {_short(e)}") from e
        except StaleDataError as e:  # the row changed since it was read
            session.rollback()
            raise ConflictError("changed by someone else meanwhile; reload and try again") from e
        except IntegrityError as e:  # a concurrent writer got there first
            session.rollback()
            # The driver's text names tables and constraints: logged, not shown to the client.
            log.warning("write refused by a constraint: %s", _short(e))
            raise ConflictError("changed by someone else meanwhile; reload and try again") from e
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
