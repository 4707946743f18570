"""The analytics service: `create_app()` for gunicorn, `create_worker()` for `ecom worker analytics`."""

from __future__ import annotations

from pathlib import Path

from ecom_common.service import ServiceDef

from . import api, handlers

SERVICE = ServiceDef(
    name="analytics",
    package_dir=Path(__file__).parent,
    blueprints=api.BLUEPRINTS,
    subscriptions=handlers.SUBSCRIPTIONS,
    jobs=handlers.JOBS,
    commands=handlers.COMMANDS,
    description="Facts and rollups projected from events, visits, KPIs, alerts and A/B experiments.",
)


def create_app(config=None, db=None):
    return SERVICE.create_app(config, db)


def create_worker(config=None, db=None):
    return SERVICE.create_worker(config, db)
