"""Fixtures for catalog's unit and API tests: a migrated SQLite database (with the seeded category
tree and word list), tokens of each role, and a small client for common steps. `config`, `app` and
`client` come from ecom_testkit.plugin."""

from __future__ import annotations

import copy
import shutil

import pytest

from catalog.app import SERVICE
from ecom_common.db import Database
from ecom_testkit import auth, recorded_events, unit_config

# The same tokens are spelled out in each test module (modules cannot import conftest).
OPS = auth("ops", "alice", "S1")
REVIEWER = auth("reviewer", "rita")

DRESS = {
    "category_id": "womenswear-dresses",
    "title": "法式碎花雪纺连衣裙夏季新款",
    "brand": "花间集",
    "description": "轻薄雪纺面料，适合最近的炎热天气。",
    "attributes": {"尺码": ["S", "M"], "颜色": ["红色"], "材质": "雪纺", "裙长": "中长裙", "风格": "法式"},
    "images": [{"url": "https://img.example/main.jpg", "width": 800, "height": 800}]
    + [{"url": f"https://img.example/d{i}.jpg", "width": 750, "height": 1000} for i in range(5)],
    "skus": [
        {
            "sku_code": "DRESS-RED-S",
            "spec": {"颜色": "红色", "尺码": "S"},
            "barcode": "6901234567890",
            "weight_g": 300,
            "list_price_fen": 29900,
            "promo_price_fen": 25900,
            "member_price_fen": 27900,
            "low_stock_threshold": 5,
        },
        {"sku_code": "DRESS-RED-M", "spec": {"颜色": "红色", "尺码": "M"}, "weight_g": 320, "list_price_fen": 29900},
    ],
}


def make_dress(**changes) -> dict:
    body = copy.deepcopy(DRESS)
    body.update(changes)
    return body


@pytest.fixture
def dress():
    """A valid 连衣裙 product body (two SKUs); keyword arguments replace top-level fields."""
    return make_dress


@pytest.fixture
def service_name():
    return "catalog"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory):
    """Migrate once per session; each test gets a copy of the file (alembic per test is slow)."""
    path = tmp_path_factory.mktemp("catalog-template")
    SERVICE.migrate(unit_config("catalog", path))
    return path / "catalog.sqlite"


@pytest.fixture
def db(config, migrated_template, tmp_path):
    """The plugin's `db`, from a copy of the migrated template instead of a migration per test."""
    shutil.copy(migrated_template, tmp_path / "catalog.sqlite")
    database = Database(config)
    yield database
    database.dispose()


class Steps:
    """The common steps of the lifecycle, each asserting it worked."""

    def __init__(self, client, db):
        self.client = client
        self.db = db

    def create(self, body=None, headers=OPS, expect=201) -> dict:
        r = self.client.post("/api/v1/products", json=body or make_dress(), headers=headers)
        assert r.status_code == expect, r.get_json()
        return r.get_json()

    def act(self, product_id, action, headers=OPS, json=None, expect=200) -> dict:
        r = self.client.post(f"/api/v1/products/{product_id}/{action}", json=json, headers=headers)
        assert r.status_code == expect, r.get_json()
        return r.get_json()

    def submitted(self, body=None, headers=OPS) -> dict:
        p = self.create(body, headers)
        return self.act(p["product_id"], "submit", headers)

    def listed(self, body=None, headers=OPS) -> dict:
        p = self.submitted(body, headers)
        return self.act(p["product_id"], "approve", REVIEWER)

    def events(self, routing_key=None) -> list[dict]:
        return recorded_events(self.db, routing_key)


@pytest.fixture
def steps(client, db):
    return Steps(client, db)
