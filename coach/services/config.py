"""Typed configuration for the services, read once from the environment and validated.

Everything a deployment can set lives here (the database, the data folder, the login
rules, whether videos may be kept); `build_services` makes the services from it in one
place, and tests pass their own `AppConfig` (or a ready `Store`) instead of patching.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from coach.accounts import LoginPolicy
from coach.storage.database import default_data_dir

ENV_DATABASE_URL = "COACH_DATABASE_URL"
ENV_DATA_DIR = "COACH_DATA_DIR"
ENV_IDLE_MINUTES = "COACH_IDLE_MINUTES"
ENV_SERVER_NAME = "COACH_SERVER_NAME"


def default_server_name() -> str:
    """This app server's name on the live monitor: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the setting and the problem."""


@dataclass(frozen=True, slots=True)
class AppConfig:
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = None
    """None: an SQLite file `coach.db` in `data_dir`."""
    policy: LoginPolicy = field(default_factory=LoginPolicy)
    stale_session_after: timedelta = timedelta(minutes=30)
    """A live session with nothing new for this long is marked interrupted."""
    server_name: str = field(default_factory=default_server_name)
    """Names this app server on the live monitor (several can share one database)."""

    def __post_init__(self) -> None:
        url = self.database_url
        if url is not None and not url.startswith(("sqlite:", "postgresql")):
            raise ConfigError(
                "the database address must start with sqlite: or postgresql: "
                f"(got {url.split(':', 1)[0]!r})"
            )

    @property
    def video_dir(self) -> Path:
        """Where videos are kept, only for patients who opted in for that session."""
        return self.data_dir / "videos"

    @staticmethod
    def from_env(environ: Mapping[str, str] | None = None) -> AppConfig:
        env = os.environ if environ is None else environ
        data_dir = Path(env[ENV_DATA_DIR]).expanduser() if env.get(ENV_DATA_DIR) else None
        idle = env.get(ENV_IDLE_MINUTES, "").strip()
        policy = LoginPolicy()
        if idle:
            try:
                minutes = float(idle)
            except ValueError:
                raise ConfigError(f"{ENV_IDLE_MINUTES} must be a number of minutes") from None
            if not 1 <= minutes <= 24 * 60:
                raise ConfigError(f"{ENV_IDLE_MINUTES} must be between 1 and 1440")
            policy = LoginPolicy(idle_logoff=timedelta(minutes=minutes))
        url = env.get(ENV_DATABASE_URL, "").strip() or None
        server = env.get(ENV_SERVER_NAME, "").strip()[:100] or default_server_name()
        if data_dir is None:
            return AppConfig(database_url=url, policy=policy, server_name=server)
        return AppConfig(data_dir=data_dir, database_url=url, policy=policy, server_name=server)
