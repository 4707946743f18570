"""What makes a service a service: its name, HTTP blueprints, subscriptions and jobs.

Each service's app.py declares one `ServiceDef`; `create_app`, the worker, the migrations and the CLI
are all built from it, so that every service starts, migrates and runs the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Config
from .consumer import Subscription
from .db import Database
from .jobs import Job
from .migrations import upgrade
from .worker import Worker

if TYPE_CHECKING:  # annotations only: the web stack is imported where it is used (create_app)
    from flask import Flask

    from .bodies import Blueprint


@dataclass
class ServiceDef:
    name: str
    package_dir: Path
    blueprints: list[Blueprint]
    subscriptions: list[Subscription] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    description: str = ""
    # Maintenance a person runs by hand, `ecom <service> <name>`: each takes the service's database
    # and returns what it did, printed (analytics' `rebuild`).
    commands: dict[str, Callable[[Database], str]] = field(default_factory=dict)

    @property
    def migrations_dir(self) -> Path:
        return self.package_dir / "migrations"

    def config(self, config: Config | None = None) -> Config:
        return config or Config.from_env(self.name)

    def create_app(self, config: Config | None = None, db: Database | None = None) -> Flask:
        from .http import make_app

        return make_app(self.config(config), self.blueprints, db=db, description=self.description)

    def create_worker(self, config: Config | None = None, db: Database | None = None) -> Worker:
        from .observability import configure_logging

        config = self.config(config)
        configure_logging(config.service)
        return Worker(db or Database(config), self.subscriptions, self.jobs)

    def migrate(self, config: Config | None = None) -> None:
        upgrade(self.migrations_dir, self.config(config).database_url)

    def job(self, name: str) -> Job:
        for job in self.jobs:
            if job.name == name:
                return job
        raise KeyError(f"{self.name} has no job {name!r}; it has: {', '.join(j.name for j in self.jobs) or 'none'}")


def load(service: str) -> ServiceDef:
    """The ServiceDef of a service by name (imports `<service>.app`)."""
    module = importlib.import_module(f"{service}.app")
    service_def: ServiceDef = module.SERVICE
    return service_def
