"""Services between the pages (and the CLI) and the core: built in one place from config.

A page reads its widgets and calls a service; a service checks who is asking, works
through the store and the core, and never imports Streamlit. `build_services` is the
one place they are made, from an `AppConfig`; tests pass their own store or clock there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from coach.exercise import Exercise, load_library
from coach.records import utc_now
from coach.services.clinic import ClinicService
from coach.services.config import AppConfig
from coach.services.monitor import MonitorService
from coach.services.reports import ReportService
from coach.services.sessions import SessionService
from coach.storage.database import database_url, open_database
from coach.storage.store import Store
from coach.telehealth.bus import LiveBus, MemoryLiveBus


@dataclass(frozen=True, slots=True)
class Services:
    config: AppConfig
    store: Store
    clinic: ClinicService
    sessions: SessionService
    reports: ReportService
    monitor: MonitorService


def _library() -> dict[str, Exercise]:
    return load_library().usable()


def live_bus_for(store: Store) -> LiveBus:
    """The live bus that fits the database: across app servers on PostgreSQL, within
    this process on SQLite (an SQLite file serves one app server)."""
    if store.engine.dialect.name == "postgresql":
        from coach.telehealth.postgres import PostgresLiveBus

        return PostgresLiveBus(store.engine)
    return MemoryLiveBus()


def build_services(
    config: AppConfig | None = None,
    *,
    store: Store | None = None,
    exercises: Callable[[], dict[str, Exercise]] | None = None,
    clock: Callable[[], datetime] = utc_now,
    upgrade_schema: bool = True,
    live_bus: Callable[[], LiveBus] | None = None,
) -> Services:
    """All services over one store (opened, created and migrated from `config` if not given)."""
    config = config or AppConfig.from_env()
    if store is None:
        url = database_url(config.data_dir, config.database_url)
        store = open_database(url, upgrade_schema=upgrade_schema)
    library = exercises or _library
    opened = store
    return Services(
        config=config,
        store=store,
        clinic=ClinicService(store, config, library, clock),
        sessions=SessionService(store, config, library, clock),
        reports=ReportService(store, library, clock),
        monitor=MonitorService(
            store, live_bus or (lambda: live_bus_for(opened)), config.server_name, clock
        ),
    )
