"""Compliance sweeps: a banned word added re-scans the listed products in the background (the job
`sweep-compliance`), the report for reviewers, the optional delist, the periodic sweep, and the
claims that keep two replicas from running one sweep twice."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from catalog import store, sweeps
from catalog.app import SERVICE
from catalog.models import ComplianceFinding, ComplianceSweep
from catalog.settings import Settings
from ecom_common.jobs import run_once
from ecom_common.usecase import for_job
from ecom_testkit import auth

OPS = auth("ops", "alice", "S1")
OPS2 = auth("ops", "bob", "S2")
REVIEWER = auth("reviewer", "rita")
ADMIN = auth("admin", "adam")


def one_sku(dress, code, **kw):
    return dress(skus=[{"sku_code": code, "list_price_fen": 1000, "spec": {}}], **kw)


def ban(client, word, kind="banned"):
    r = client.post("/api/v1/banned-words", json={"word": word, "kind": kind}, headers=ADMIN)
    assert r.status_code == 201, r.get_json()


def sweep_job(db):
    return run_once(db, SERVICE.job("sweep-compliance"))


def with_settings(db, config, **settings):
    return db.__class__(config.with_(settings=settings), engine=db.engine)


def word_sweeps(client):
    items = client.get("/api/v1/compliance/sweeps", headers=REVIEWER).get_json()["items"]
    return [s for s in items if s["trigger"] == "banned_word"]


def test_a_banned_word_is_swept_in_the_background_and_reported(steps, client, db, dress):
    hit = steps.listed(one_sku(dress, "A1"))  # title 法式碎花雪纺连衣裙夏季新款
    clean = steps.listed(one_sku(dress, "A2", title="碎花雪纺连衣裙夏季新款"))
    draft = steps.create(one_sku(dress, "A3"))  # not listed: not swept (approval scans it)
    ban(client, "法式")
    [queued] = word_sweeps(client)
    assert (queued["status"], queued["word"]) == ("pending", "法式")  # queued, not run in the request
    assert client.get("/api/v1/compliance/findings", headers=REVIEWER).get_json()["items"] == []

    assert sweep_job(db) == 2  # the word's sweep, then this slot's periodic one: each reports it
    [done] = word_sweeps(client)
    assert (done["status"], done["scanned"], done["flagged"], done["delisted"]) == ("done", 2, 1, 0)
    q = {"sweep_id": done["sweep_id"]}
    [row] = client.get("/api/v1/compliance/findings", query_string=q, headers=REVIEWER).get_json()["items"]
    assert (row["product_id"], row["shop_id"], row["rules"], row["delisted"]) == (
        hit["product_id"],
        "S1",
        ["banned_word"],
        False,
    )
    assert {"field": "title", "rule": "banned_word", "text": "法式"}.items() <= row["findings"][0].items()
    # CATALOG_SWEEP_DELIST is off: reported only, still on sale
    assert client.get(f"/api/v1/products/{hit['product_id']}", headers=OPS).get_json()["status"] == "listed"
    assert steps.events("catalog.ProductDelisted") == []
    q = {"product_id": clean["product_id"]}
    assert client.get("/api/v1/compliance/findings", query_string=q, headers=ADMIN).get_json()["items"] == []
    q = {"product_id": draft["product_id"]}
    assert client.get("/api/v1/compliance/findings", query_string=q, headers=ADMIN).get_json()["items"] == []
    assert sweep_job(db) == 0  # nothing queued any more (the periodic sweep of this slot ran too)


def test_with_sweep_delist_the_product_is_delisted_for_compliance(steps, client, db, config, dress):
    hit = steps.listed(one_sku(dress, "D1"))
    other_shop = steps.listed(one_sku(dress, "D2", description="法式风格"), headers=OPS2)
    ban(client, "法式")
    assert sweep_job(with_settings(db, config, CATALOG_SWEEP_DELIST="true")) == 2
    for p in (hit, other_shop):
        got = client.get(f"/api/v1/products/{p['product_id']}", headers=ADMIN).get_json()
        assert (got["status"], got["delist_reason"]) == ("delisted", "compliance")
    delisted = steps.events("catalog.ProductDelisted")
    assert sorted((e["payload"]["product_id"], e["payload"]["reason"]) for e in delisted) == sorted(
        [(hit["product_id"], "compliance"), (other_shop["product_id"], "compliance")]
    )
    last = client.get(f"/api/v1/products/{hit['product_id']}/timeline", headers=OPS).get_json()["items"][-1]
    assert (last["action"], last["by"], last["status"]) == ("delist", "system", "delisted")
    assert "banned_word" in last["reason"]
    # back on sale only through review: relist is refused
    r = client.post(f"/api/v1/products/{hit['product_id']}/relist", headers=OPS)
    assert r.status_code == 409 and "compliance" in r.get_json()["detail"]
    rows = client.get("/api/v1/compliance/findings", query_string={"delisted": "true"}, headers=REVIEWER)
    assert len(rows.get_json()["items"]) == 2
    assert word_sweeps(client)[0]["delisted"] == 2


def test_an_exemption_queues_nothing(client, db):
    ban(client, "法式风格", kind="exemption")
    assert word_sweeps(client) == []


def test_periodic_sweep_once_per_slot_however_often_the_job_runs(steps, client, db, config, dress):
    steps.listed(one_sku(dress, "P1"))
    sweep_job(db)
    sweep_job(db)  # the same slot: not queued again
    periodic = [s for s in client.get("/api/v1/compliance/sweeps", headers=ADMIN).get_json()["items"]]
    assert [(s["trigger"], s["status"], s["scanned"]) for s in periodic] == [("periodic", "done", 1)]
    config.clock.advance(hours=24)
    sweep_job(db)
    items = client.get("/api/v1/compliance/sweeps", headers=ADMIN).get_json()["items"]
    assert [s["trigger"] for s in items] == ["periodic", "periodic"]


def test_two_workers_claim_a_sweep_once_and_a_dead_workers_sweep_is_taken_over(steps, client, db, config, dress):
    steps.listed(one_sku(dress, "W1"))
    ban(client, "法式")
    with for_job(db, Settings) as ctx:
        first = sweeps.claim(ctx)
    with for_job(db, Settings) as ctx:
        assert sweeps.claim(ctx) is None  # the other replica finds nothing to run
    assert first is not None
    # the first worker scans but dies before finishing: the lease runs out, another takes over
    with for_job(db, Settings) as ctx:
        rules = (store.load_tree(ctx.session), store.load_lexicon(ctx.session))
        [pid] = sweeps.listed_after(ctx, "")
        assert sweeps.check(ctx, first.sweep_id, pid, rules) is True
    config.clock.advance(seconds=Settings.sweep_lease_seconds + 1)
    with for_job(db, Settings) as ctx:
        second = sweeps.claim(ctx)
    assert second is not None and second.sweep_id == first.sweep_id and second.holder != first.holder
    assert sweeps.run(db, first) == 0  # the dead worker, were it alive, finds its lease gone and stops
    assert sweeps.run(db, second) == 1
    with db.Session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(ComplianceFinding)).scalar() == 1  # not twice
        assert s.get(ComplianceSweep, first.sweep_id).status == "done"


def test_report_is_for_reviewers_and_admins(client):
    for path in ("/api/v1/compliance/sweeps", "/api/v1/compliance/findings"):
        assert client.get(path, headers=OPS).status_code == 403
        assert client.get(path).status_code == 401
        assert client.get(path, headers=REVIEWER).status_code == 200


def test_slots_are_aligned_to_the_setting():
    from datetime import UTC, datetime

    from catalog import domain

    at = datetime(2026, 12, 3, 19, 30, tzinfo=UTC)
    assert domain.sweep_slot(at, 24) == datetime(2026, 12, 3, tzinfo=UTC)
    assert domain.sweep_slot(at, 6) == datetime(2026, 12, 3, 18, tzinfo=UTC)
    assert domain.sweep_slot(at + timedelta(hours=5), 24) == datetime(2026, 12, 4, tzinfo=UTC)


def test_migrations_match_the_models(db):
    """models.py and migrations/versions/ (0002 special goods, 0003 sweeps) describe the same tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from catalog.models import metadata
    from ecom_common.db import common_metadata

    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, [metadata, common_metadata])
    assert diff == []
