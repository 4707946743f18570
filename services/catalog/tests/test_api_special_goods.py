"""Special goods: a SKU that is custom-made or fresh (`no_7day_return`) or sold on presale
(`presale_ship_days`, 1..60): set on the product editor API, shown on the product and in the SKU read
model orders asks when an order is placed."""

from __future__ import annotations

import pytest

from ecom_testkit import auth

OPS = auth("ops", "alice", "S1")
SERVICE_ROLE = auth("service", "orders")


def special(dress, **sku_fields):
    body = dress()
    body["skus"][0].update(sku_fields)
    return body


def test_defaults_are_an_ordinary_sku(steps, client, dress):
    p = steps.listed(dress())
    assert [(s["no_7day_return"], s["presale_ship_days"]) for s in p["skus"]] == [(False, None), (False, None)]
    sku = client.get("/api/v1/skus/DRESS-RED-S", query_string={"shop_id": "S1"}, headers=SERVICE_ROLE).get_json()
    assert (sku["no_7day_return"], sku["presale_ship_days"]) == (False, None)


def test_set_on_create_and_returned_by_the_sku_read_models(steps, client, dress):
    p = steps.listed(special(dress, no_7day_return=True, presale_ship_days=15))
    assert (p["skus"][0]["no_7day_return"], p["skus"][0]["presale_ship_days"]) == (True, 15)
    q = {"shop_id": "S1"}
    sku = client.get("/api/v1/skus/DRESS-RED-S", query_string=q, headers=SERVICE_ROLE).get_json()
    assert (sku["no_7day_return"], sku["presale_ship_days"]) == (True, 15)
    # the batch orders calls when placing an order
    batch = client.post(
        "/api/v1/skus/batch", json={"shop_id": "S1", "sku_codes": ["DRESS-RED-S", "DRESS-RED-M"]}, headers=SERVICE_ROLE
    ).get_json()
    assert [(i["sku_code"], i["no_7day_return"], i["presale_ship_days"]) for i in batch["items"]] == [
        ("DRESS-RED-S", True, 15),
        ("DRESS-RED-M", False, None),
    ]


@pytest.mark.parametrize("days", [0, 61, -1, "soon"])
def test_presale_days_out_of_range_is_422_and_nothing_saved(steps, client, dress, days):
    r = client.post("/api/v1/products", json=special(dress, presale_ship_days=days), headers=OPS)
    assert r.status_code == 422, r.get_json()
    assert r.mimetype == "application/problem+json"
    assert client.get("/api/v1/products", headers=OPS).get_json()["items"] == []


def test_changing_the_terms_of_a_listed_product_sends_it_back_to_review(steps, client, dress):
    p = steps.listed(dress())
    body = dress()
    body["skus"][1]["no_7day_return"] = True
    r = client.patch(f"/api/v1/products/{p['product_id']}", json={"skus": body["skus"]}, headers=OPS)
    assert r.status_code == 200, r.get_json()
    edited = r.get_json()
    assert edited["status"] == "pending_review"  # the buyer reads it: 不支持七天无理由
    assert [s["no_7day_return"] for s in edited["skus"]] == [False, True]
    # an edit that leaves the SKUs' terms out puts the defaults back (a SKU list is whole)
    steps.act(p["product_id"], "withdraw")
    again = client.patch(f"/api/v1/products/{p['product_id']}", json={"skus": dress()["skus"]}, headers=OPS).get_json()
    assert [s["no_7day_return"] for s in again["skus"]] == [False, False]


def test_presale_days_edit_keeps_the_other_sku_fields(steps, client, dress):
    p = steps.create(dress())
    body = dress()
    body["skus"][0]["presale_ship_days"] = 7
    edited = client.patch(f"/api/v1/products/{p['product_id']}", json={"skus": body["skus"]}, headers=OPS).get_json()
    assert edited["status"] == "draft"
    assert (edited["skus"][0]["presale_ship_days"], edited["skus"][0]["list_price_fen"]) == (7, 29900)
