"""Opening the coach's database, keeping its schema current, and putting its errors into words.

One SQLite file in the data folder by default (WAL, foreign keys on, a busy timeout),
or a PostgreSQL server for a clinic. The schema is owned by the Alembic migrations
shipped in `migrations/` (configured here in code: no alembic.ini). Every failure the
database can report reaches the user as a `StorageError` whose text is one plain
sentence a clinic administrator can act on: no traceback, no SQL, no variable names.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Engine, make_url

if TYPE_CHECKING:
    from coach.storage.store import Store

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "footdrop-coach"
"""Where the SQLite database lives unless COACH_DATA_DIR or a PostgreSQL server is set."""
DB_FILE_NAME = "coach.db"
MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
HEAD_REVISION = "0004"
"""The schema revision this code reads and writes (a test checks it is the scripts' head)."""
UPGRADE_ADVICE = "run `python -m coach db upgrade`"
BUSY_TIMEOUT_MS = 5000
WRITE_OPTION = "coach_write"
"""Execution option marking a writing transaction (SQLite: `BEGIN IMMEDIATE`)."""


class StorageError(Exception):
    """A database problem, said in one plain sentence (its str) for the person running the app."""


class DatabaseMissing(StorageError):
    """The database (file, or database on the server) does not exist and was not to be made."""


class SchemaTooOld(StorageError):
    """The database predates this version of the app: it needs `python -m coach db upgrade`."""


class SchemaTooNew(StorageError):
    """A newer version of the app has upgraded the database; this one must not touch it."""


class DuplicateError(StorageError):
    """The record clashes with one already saved (an email, a name, a login)."""


class NotFound(StorageError):
    """The record to change, or the one it refers to, does not exist (any more)."""


class DatabaseBusy(StorageError):
    """Another program holds the database; trying again later may work."""


class DatabaseReadOnly(StorageError):
    """The database can be read but not written."""


class DatabaseUnreachable(StorageError):
    """The database server cannot be reached or refuses the login."""


class DiskFull(StorageError):
    """The disk holding the database has no room left."""


class DatabaseDamaged(StorageError):
    """The file is not a coach database, or it is damaged."""


# --- where the database is ---------------------------------------------------------------


def default_data_dir() -> Path:
    """The data folder, read when asked (so a changed environment is honoured)."""
    env = os.environ.get("COACH_DATA_DIR")
    return Path(env).expanduser() if env else DEFAULT_DATA_DIR


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 (the driver installed)."""
    url = url.strip()
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_url(data_dir: Path | str | None = None, url: str | None = None) -> str:
    """The database to open: `url`, else the configured server, else the data folder's file."""
    if url:
        return normalize_url(url)
    env = os.environ.get("COACH_DATABASE_URL", "").strip()
    if env:
        return normalize_url(env)
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    return f"sqlite:///{folder / DB_FILE_NAME}"


def _url(target: Engine | URL | str) -> URL:
    if isinstance(target, Engine):
        return target.url
    return make_url(target) if isinstance(target, str) else target


def sqlite_path(target: Engine | URL | str) -> Path | None:
    """The file behind a SQLite URL (also `file:...?mode=ro` URIs); None for memory/other."""
    url = _url(target)
    if url.get_backend_name() != "sqlite":
        return None
    name = url.database or ""
    if name.startswith("file:"):
        name = name[len("file:") :].split("?", 1)[0]
    if not name or name == ":memory:" or url.query.get("mode") == "memory":
        return None
    return Path(name)


def describe(target: Engine | URL | str) -> str:
    """How a message names the database: its file, or the server's host:port."""
    url = _url(target)
    path = sqlite_path(url)
    if path is not None:
        return str(path)
    if url.get_backend_name() == "sqlite":
        return "in memory"
    return f"{url.host or 'localhost'}:{url.port or 5432}"


# --- errors into words ---------------------------------------------------------------------


def _message_of(error: BaseException) -> str:
    orig = getattr(error, "orig", None)
    return str(orig if orig is not None else error).lower()


def _sqlstate(error: BaseException) -> str | None:
    orig = getattr(error, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(state) if state else None


def _read_only(target: Engine | URL | str) -> StorageError:
    path = sqlite_path(target)
    if path is not None:
        return DatabaseReadOnly(
            f"The database file {path} cannot be written: check its permissions."
        )
    return DatabaseReadOnly(
        f"The database server at {describe(target)} accepts no changes (it is read-only)."
    )


def _disk_full() -> StorageError:
    return DiskFull("The disk holding the database is full: free some space and try again.")


def _busy() -> StorageError:
    return DatabaseBusy("The database is busy (locked by another program); try again in a moment.")


def _too_old(target: Engine | URL | str) -> StorageError:
    return SchemaTooOld(
        f"The database {describe(target)} is from an older version of the coach: "
        f"{UPGRADE_ADVICE} to upgrade it."
    )


def classify(
    error: BaseException, target: Engine | URL | str, duplicate: str | None = None
) -> StorageError:
    """The `StorageError` for a SQLAlchemy/driver error raised while using `target`."""
    msg, state = _message_of(error), _sqlstate(error)
    where = describe(target)
    is_sqlite = _url(target).get_backend_name() == "sqlite"
    if isinstance(error, exc.IntegrityError):
        if "foreign key" in msg or state == "23503":
            return NotFound("The patient, therapist or session this refers to no longer exists.")
        if "unique" in msg or state == "23505":
            return DuplicateError(duplicate or "This record is already saved.")
        return StorageError("The record could not be saved: a value it needs is missing.")
    if "readonly database" in msg or state == "25006":
        return _read_only(target)
    if "database is locked" in msg or "database table is locked" in msg:
        return _busy()
    if state in ("40P01", "55P03", "40001"):
        return _busy()
    if "disk is full" in msg or "no space left" in msg or state == "53100":
        return _disk_full()
    if is_sqlite:
        path = sqlite_path(target)
        if "unable to open database file" in msg:
            if path is not None and path.exists():
                return _read_only(target)
            return StorageError(
                f"The database file {where} cannot be created: check that its folder exists "
                "and can be written."
            )
        if "file is not a database" in msg or "malformed" in msg:
            return DatabaseDamaged(
                f"The file {where} is not a coach database, or it is damaged: restore it "
                "from a backup."
            )
        if "no such table" in msg:
            return _too_old(target)
        if "disk i/o error" in msg:
            return StorageError(
                f"The disk holding the database {where} could not be read or written."
            )
    else:
        if "password authentication failed" in msg or state in ("28P01", "28000"):
            return DatabaseUnreachable(
                f"The database server at {where} refused the coach's login: check the user "
                "name and password."
            )
        if state == "3D000" or ("database" in msg and "does not exist" in msg):
            name = _url(target).database
            return DatabaseMissing(f"The database {name} does not exist on the server at {where}.")
        if state == "42P01":
            return _too_old(target)
        if isinstance(error, exc.OperationalError | exc.InterfaceError) and (
            state is None or state.startswith("08") or state.startswith("57P")
        ):
            return DatabaseUnreachable(f"The database server at {where} cannot be reached.")
    if isinstance(error, exc.DataError):
        return StorageError("A value could not be saved: it is too long or of the wrong kind.")
    return StorageError(
        f"The database {where} reported a problem the coach does not know; see the server log."
    )


@contextlib.contextmanager
def translate_errors(target: Engine | URL | str, *, duplicate: str | None = None) -> Iterator[None]:
    """Turn database errors raised inside into `StorageError`s (already-plain ones pass).

    `duplicate` is the sentence for a unique-constraint clash in this operation. The
    driver's own words go to the log, for whoever debugs it, never to the user.
    """
    try:
        yield
    except StorageError:
        raise
    except exc.DBAPIError as error:
        plain = classify(error, target, duplicate)
        log.info("database error on %s: %s", describe(target), error)
        raise plain from error
    except exc.TimeoutError as error:  # every pooled connection in use
        raise _busy() from error
    except exc.StatementError as error:
        # A value refused before it reached the database (a naive datetime): a bug in
        # the caller, raised as what it is.
        if isinstance(error.orig, ValueError | TypeError):
            raise error.orig from error
        raise


# --- opening -------------------------------------------------------------------------------


def open_engine(url: str | URL, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    """An engine set up for the coach.

    SQLite: WAL (readers never wait for the writer), foreign keys enforced (they are
    off by default), a busy timeout on every connection, and transactions begun by
    us: the sqlite3 module would otherwise run DDL and SELECTs outside any
    transaction; writers `BEGIN IMMEDIATE` so they queue on the timeout instead of
    failing at once when a reader upgrades. PostgreSQL: connections checked before
    use, so a restarted server costs nothing.
    """
    u = make_url(normalize_url(url) if isinstance(url, str) else url)
    if u.get_backend_name() != "sqlite":
        connect_args: dict[str, Any] = {}
        if u.get_backend_name() == "postgresql":
            connect_args["connect_timeout"] = 10
        return sa.create_engine(u, pool_pre_ping=True, connect_args=connect_args)
    engine = sa.create_engine(u, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if sqlite_path(u) is not None and u.query.get("mode") != "ro":
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def writer(engine: Engine) -> Engine:
    """The same engine, its transactions marked as writing (see `open_engine`)."""
    return engine.execution_options(**{WRITE_OPTION: True})


def _alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def known_revisions() -> set[str]:
    """Every revision the shipped migrations know."""
    return {s.revision for s in _scripts().walk_revisions()}


def script_head() -> str | None:
    return _scripts().get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The schema revision stored in the database (None: no coach tables yet)."""
    with translate_errors(engine), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _too_new() -> SchemaTooNew:
    return SchemaTooNew("The database was made by a newer version of the coach; update the app.")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (head), in one transaction, one upgrader at a time.

    Refuses (SchemaTooNew) a database a newer app has migrated: running old
    migrations over it could only do harm.
    """
    if revision == "head" and current_revision(engine) == script_head():
        return  # the usual start: no write lock, so a read-only copy opens too
    with translate_errors(engine), writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(724153)"))
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None and current not in known_revisions():
            raise _too_new()
        command.upgrade(_alembic_config(conn), revision)


def check_schema(engine: Engine) -> None:
    """Raise SchemaTooOld / SchemaTooNew unless the database is at this code's revision."""
    current = current_revision(engine)
    if current == HEAD_REVISION:
        return
    if current is not None and current not in known_revisions():
        raise _too_new()
    raise _too_old(engine)


def _make_folder(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        raise StorageError(
            f"The data folder {path.parent} cannot be created: check that its parent folder "
            "exists and can be written."
        ) from None


def _create_pg_database(url: URL) -> None:
    """Create the configured database on the server when it is not there yet."""
    maintenance = open_engine(url.set(database="postgres"))
    try:
        with translate_errors(url):
            auto = maintenance.execution_options(isolation_level="AUTOCOMMIT")
            with auto.connect() as conn:
                exists = conn.execute(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": url.database},
                ).first()
                if exists is None:
                    quoted = conn.dialect.identifier_preparer.quote(url.database or "")
                    conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
    finally:
        maintenance.dispose()


def open_database(
    url: str | None = None,
    *,
    create: bool = True,
    upgrade_schema: bool = True,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
) -> Store:
    """The `Store` for the configured database, ready to use.

    `create`: make the data folder / file (or the database on the server) when it is
    missing, else raise DatabaseMissing. `upgrade_schema`: bring the schema to head,
    else only check it (SchemaTooOld / SchemaTooNew).
    """
    from coach.storage.store import Store

    target = make_url(database_url(url=url))
    path = sqlite_path(target)
    if path is not None:
        if create:
            _make_folder(path)
        elif not path.exists():
            raise DatabaseMissing(
                f"There is no coach database at {path}: {UPGRADE_ADVICE} to create it."
            )
    elif target.get_backend_name() == "postgresql" and create:
        try:
            _create_pg_database(target)
        except DatabaseUnreachable:
            raise
        except StorageError:
            # No right to create databases (or to list them): the database may well
            # exist; opening it below says what is really wrong.
            log.info("could not create the database %s", target.database)
    engine = open_engine(target, busy_timeout_ms=busy_timeout_ms)
    try:
        if upgrade_schema:
            upgrade(engine)
        else:
            check_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)
