"""Ledger, settlements, refunds, reconciliation and commission rates: roles, scoping, bad input."""

from __future__ import annotations

from datetime import UTC

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from billing.handlers import settle_due
from billing.models import LedgerEntry, Payment, metadata
from ecom_common.db import common_metadata
from ecom_testkit import CRAFTED_CURSORS, auth


def settled_cycle(billing):
    """S1: O1 paid and settled; S2: O2 paid."""
    billing.paid("O1", shop_id="S1")
    billing.paid("O2", shop_id="S2", buyer_id="carol")
    billing.event(
        "orders.OrderCompleted",
        {
            "order_id": "O1",
            "shop_id": "S1",
            "payable_fen": 10_000,
            "completed_at": billing.config.clock.now().isoformat(),
        },
    )
    billing.config.clock.advance(days=7, minutes=1)
    assert settle_due(billing.db) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/ledger",
        "/api/v1/settlements",
        "/api/v1/payouts",
        "/api/v1/refunds",
        "/api/v1/reconciliation?date=2026-01-01",
    ],
)
def test_money_reads_need_a_token_and_a_money_role(billing, path):
    assert billing.client.get(path).status_code == 401
    assert billing.get(path, role="buyer", sub="bob").status_code == 403
    assert billing.get(path, role="warehouse", shop_id="S1").status_code == 403
    assert billing.get(path, role="ops").status_code == 403  # merchant staff without a shop_id


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/ledger",
        "/api/v1/settlements",
        "/api/v1/payouts",
        "/api/v1/refunds",
        "/api/v1/reconciliation?date=2026-01-01",
    ],
)
def test_nobody_sees_another_shops_money(billing, path):
    sep = "&" if "?" in path else "?"
    assert billing.get(f"{path}{sep}shop_id=S2", role="ops", shop_id="S1").status_code == 404
    assert billing.get(f"{path}{sep}shop_id=S2", role="finance", shop_id="S1").status_code == 404
    assert billing.get(f"{path}{sep}shop_id=S1", role="ops", shop_id="S1").status_code == 200


def test_the_ledger_lists_entries_and_their_balance_per_scope(billing):
    settled_cycle(billing)
    mine = billing.get("/api/v1/ledger", role="ops", shop_id="S1").get_json()
    assert mine["shop_id"] == "S1" and mine["balance_fen"] == 0
    assert [e["kind"] for e in mine["items"]] == ["payout", "commission", "payment"]  # newest first
    ids = [e["entry_id"] for e in mine["items"]]
    assert ids == sorted(ids, reverse=True) and "id" not in mine["items"][0]
    s2 = billing.get("/api/v1/ledger?shop_id=S2").get_json()  # finance, any shop
    assert s2["balance_fen"] == 10_000 and {e["shop_id"] for e in s2["items"]} == {"S2"}
    everything = billing.get("/api/v1/ledger", role="admin").get_json()
    assert everything["balance_fen"] == 10_000 and len(everything["items"]) == 4
    page = billing.get("/api/v1/ledger?shop_id=S1&limit=2").get_json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = billing.get(f"/api/v1/ledger?shop_id=S1&limit=2&cursor={page['next_cursor']}").get_json()
    assert [e["kind"] for e in rest["items"]] == ["payment"] and rest["next_cursor"] is None
    assert billing.get("/api/v1/ledger?cursor=garbage").status_code == 400
    assert billing.get("/api/v1/ledger?limit=0").status_code == 422
    assert billing.get("/api/v1/ledger?kind=bonus").status_code == 422


def test_settlements_and_payouts_are_listed(billing):
    settled_cycle(billing)
    [st] = billing.get("/api/v1/settlements", role="ops", shop_id="S1").get_json()["items"]
    assert st["status"] == "settled" and st["commission_fen"] == 500 and st["payout_id"]
    [po] = billing.get("/api/v1/payouts?shop_id=S1").get_json()["items"]
    assert po["payout_id"] == st["payout_id"] and po["amount_fen"] == 9_500
    assert billing.get("/api/v1/settlements", role="ops", shop_id="S2").get_json()["items"] == []


def test_refunds_are_listed_per_scope(billing):
    billing.paid("O1", shop_id="S1")
    billing.event("orders.OrderCancelled", {"order_id": "O1", "shop_id": "S1", "was_paid": True})
    [r] = billing.get("/api/v1/refunds?order_id=O1", role="cs", shop_id="S1").get_json()["items"]
    assert r["amount_fen"] == 10_000 and r["route"] == "alipay" and r["status"] == "succeeded"
    assert billing.get("/api/v1/refunds", role="ops", shop_id="S2").get_json()["items"] == []
    assert billing.get(f"/api/v1/refunds/{r['refund_id']}", role="ops", shop_id="S2").status_code == 404
    assert billing.get(f"/api/v1/refunds/{r['refund_id']}", role="finance").status_code == 200


def test_reconciliation_agrees_for_a_clean_day(billing):
    settled_cycle(billing)
    today = billing.config.clock.now().astimezone(UTC).date().isoformat()
    report = billing.get(f"/api/v1/reconciliation?date={today}&shop_id=S1").get_json()
    assert report["balanced"] is True, report["mismatches"]
    assert report["paid_out"] == {"count": 1, "amount_fen": 9_500}
    assert report["commission_fen"] == 500
    all_shops = billing.get(f"/api/v1/reconciliation?date={today}", role="admin").get_json()
    assert all_shops["paid_out"]["count"] == 1


def test_reconciliation_lists_a_payment_that_matches_no_order_and_no_ledger_entry(billing):
    now = billing.config.clock.now()
    with billing.db.Session() as s:
        s.add(
            Payment(
                payment_id="Pstray",
                order_id="O-ghost",
                shop_id="S1",
                buyer_id="x",
                amount_fen=500,
                method="alipay",
                status="succeeded",
                intent_id="pi_stray",
                created_at=now,
                updated_at=now,
                succeeded_at=now,
            )
        )
        s.commit()
    report = billing.get(f"/api/v1/reconciliation?date={now.date().isoformat()}&shop_id=S1").get_json()
    assert report["balanced"] is False
    assert {m["kind"] for m in report["mismatches"]} == {"payment_without_order", "payment_not_in_ledger"}


@pytest.mark.parametrize("query", ["", "?date=yesterday", "?date=2026-13-01"])
def test_reconciliation_needs_a_valid_date(billing, query):
    resp = billing.get(f"/api/v1/reconciliation{query}")
    assert resp.status_code == 422 and "date" in resp.get_json()["errors"]


def test_commission_rates_are_read_by_finance_and_set_by_admin_only(billing):
    got = billing.get("/api/v1/commission-rates").get_json()
    assert got == {"default_bps": 500, "items": [], "next_cursor": None}
    body = {"rates": [{"category_id": "C-dress", "rate_bps": 800}]}
    assert billing.client.put("/api/v1/commission-rates", json=body, headers=auth("finance")).status_code == 403
    assert billing.client.put("/api/v1/commission-rates", json=body).status_code == 401
    resp = billing.client.put("/api/v1/commission-rates", json=body, headers=auth("admin", sub="root"))
    assert resp.status_code == 200
    assert resp.get_json()["items"][0]["rate_bps"] == 800 and resp.get_json()["items"][0]["updated_by"] == "root"
    body["rates"][0]["rate_bps"] = 600
    billing.client.put("/api/v1/commission-rates", json=body, headers=auth("admin", sub="root"))
    assert billing.get("/api/v1/commission-rates").get_json()["items"][0]["rate_bps"] == 600
    more = {"rates": [{"category_id": "C-bag", "rate_bps": 300}, {"category_id": "C-shoe", "rate_bps": 400}]}
    billing.client.put("/api/v1/commission-rates", json=more, headers=auth("admin", sub="root"))
    first = billing.get("/api/v1/commission-rates?limit=2").get_json()
    rest = billing.get(f"/api/v1/commission-rates?cursor={first['next_cursor']}").get_json()
    assert [r["category_id"] for r in first["items"] + rest["items"]] == ["C-bag", "C-dress", "C-shoe"]
    assert rest["next_cursor"] is None and rest["default_bps"] == 500


@pytest.mark.parametrize(
    "body, field",
    [
        ({"rates": [{"category_id": "C1", "rate_bps": 10_001}]}, "rates"),
        ({"rates": [{"category_id": "C1", "rate_bps": "5%"}]}, "rates"),
        ({"rates": []}, "rates"),
        ({}, "rates"),
    ],
)
def test_bad_commission_rates_are_422_and_change_nothing(billing, body, field):
    resp = billing.client.put("/api/v1/commission-rates", json=body, headers=auth("admin"))
    assert resp.status_code == 422 and field in resp.get_json()["errors"]
    assert billing.get("/api/v1/commission-rates").get_json()["items"] == []
    bad = billing.client.put(
        "/api/v1/commission-rates", data="{", content_type="application/json", headers=auth("admin")
    )
    assert bad.status_code == 400


def test_the_ledger_is_never_updated_in_place(billing):
    """Entries are appended: every money move adds rows, none changes an existing row."""
    billing.paid("O1")
    with billing.db.Session() as s:
        before = s.execute(sa.select(LedgerEntry.id, LedgerEntry.amount_fen)).all()
    billing.event("orders.OrderCancelled", {"order_id": "O1", "shop_id": "S1", "was_paid": True})
    with billing.db.Session() as s:
        after = s.execute(sa.select(LedgerEntry.id, LedgerEntry.amount_fen).order_by(LedgerEntry.id)).all()
    assert after[: len(before)] == before and len(after) == len(before) + 1


def test_the_migration_matches_the_models(billing):
    with billing.db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), [metadata, common_metadata]
        )
    assert diff == []


# A crafted cursor is refused before it reaches SQL (ecom_common.pagination.decode_cursor) -------------------
@pytest.mark.parametrize("cursor", CRAFTED_CURSORS)
@pytest.mark.parametrize("path", ["/api/v1/ledger", "/api/v1/commission-rates"])
def test_a_crafted_cursor_is_a_400(billing, path, cursor):
    r = billing.get(path, role="admin", sub="root", query_string={"cursor": cursor})
    assert r.status_code == 400 and r.mimetype == "application/problem+json", r.get_data(as_text=True)
    assert "cursor" in r.get_json()["errors"]
