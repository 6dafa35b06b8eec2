"""The coach's database: a SQLite file or a PostgreSQL server behind one `Store`.

`open_database()` opens (and on first run creates) the configured database with its
schema current and returns the `Store`; every failure is a `StorageError` whose text
is one plain sentence. The schema is in `schema`, its history in `migrations/`.
"""

from coach.storage.database import (
    DEFAULT_DATA_DIR,
    HEAD_REVISION,
    DatabaseBusy,
    DatabaseDamaged,
    DatabaseMissing,
    DatabaseReadOnly,
    DatabaseUnreachable,
    DiskFull,
    DuplicateError,
    NotFound,
    SchemaTooNew,
    SchemaTooOld,
    StorageError,
    check_schema,
    current_revision,
    database_url,
    open_database,
    open_engine,
    translate_errors,
    upgrade,
)
from coach.storage.store import (
    AuditRow,
    NoteRow,
    PatientRow,
    Store,
    TherapistRow,
    patient_account_key,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "HEAD_REVISION",
    "AuditRow",
    "DatabaseBusy",
    "DatabaseDamaged",
    "DatabaseMissing",
    "DatabaseReadOnly",
    "DatabaseUnreachable",
    "DiskFull",
    "DuplicateError",
    "NotFound",
    "NoteRow",
    "PatientRow",
    "SchemaTooNew",
    "SchemaTooOld",
    "StorageError",
    "Store",
    "TherapistRow",
    "check_schema",
    "current_revision",
    "database_url",
    "open_database",
    "open_engine",
    "patient_account_key",
    "translate_errors",
    "upgrade",
]
