"""Fixtures of the analytics unit/API tests: a SQLite database migrated by the real migration and the
memory bus (both from ecom_testkit.plugin), and `Projector`, which hands events to the analytics
consumer exactly as the worker does (inbox, handler, commit) and reads the rollups back."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from analytics.app import SERVICE
from analytics.models import ROLLUPS
from ecom_common.clock import iso
from ecom_common.consumer import EventConsumer
from ecom_common.events import make_event
from ecom_testkit import auth


class Projector:
    def __init__(self, app, db):
        self.db = db
        self.client = app.test_client()
        self.consumer = EventConsumer(db, SERVICE.subscriptions[0])

    def deliver(self, routing_key: str, payload: dict, at: datetime | None = None) -> str:
        """The event as the worker hands it over; `at` is its occurred_at."""
        return self.consumer.handle(make_event(routing_key, payload, occurred_at=at))

    @staticmethod
    def placed(order_id, shop_id="S1", buyer_id="bob", lines=None, shipping_fen=0, discount_fen=0, at=None):
        lines = lines or [{"sku_code": "SKU-A", "quantity": 1, "unit_price_fen": 10000, "category_id": "c1"}]
        goods = sum(line["quantity"] * line["unit_price_fen"] for line in lines)
        discount_fen = min(discount_fen, goods)
        return {
            "order_id": order_id,
            "shop_id": shop_id,
            "buyer_id": buyer_id,
            "goods_fen": goods,
            "discount_fen": discount_fen,
            "shipping_fen": shipping_fen,
            "payable_fen": goods - discount_fen + shipping_fen,
            "lines": lines,
            "placed_at": iso(at) if at else None,
        }

    @staticmethod
    def paid(placed_payload, at):
        p = placed_payload
        return {
            "order_id": p["order_id"],
            "shop_id": p["shop_id"],
            "buyer_id": p["buyer_id"],
            "payable_fen": p["payable_fen"],
            "paid_at": iso(at),
            "lines": p["lines"],
        }

    def rollups(self) -> dict[str, list[tuple]]:
        """Every rollup's rows, sorted, without the all-zero ones (a rebuild has no reason to write
        those and the increments never do)."""
        out = {}
        with self.db.engine.connect() as conn:
            for model in ROLLUPS:
                table = model.__table__
                rows = [tuple(str(v) for v in row) for row in conn.execute(sa.select(table))]
                out[table.name] = sorted(rows)
        return out

    def rebuild(self) -> dict[str, int]:
        from analytics import operations
        from analytics.settings import Settings
        from ecom_common.usecase import for_job

        with for_job(self.db, Settings) as ctx:
            return operations.rebuild_rollups(ctx)

    def get(self, path, role="ops", sub="olga", shop_id="S1", **kw):
        return self.client.get(path, headers=auth(role, sub, shop_id), **kw)

    def post(self, path, json=None, role="service", sub="storefront", shop_id=None, **kw):
        return self.client.post(path, json=json, headers=auth(role, sub, shop_id), **kw)


@pytest.fixture
def service_name():
    return "analytics"


@pytest.fixture
def projector(app, db):
    return Projector(app, db)
