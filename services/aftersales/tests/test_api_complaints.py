"""Complaints over HTTP: tiers and their clocks, crisis escalation on creation, the breach
escalation job driven by the injectable clock (once per breach), cs handling, the dashboard."""

from aftersales.app import SERVICE
from ecom_common.jobs import run_once


def complain(api, tier="general", order_id="O1", sub="bob", expect=201, **extra):
    r = api.post(
        "/api/v1/complaints", json={"order_id": order_id, "tier": tier, "text": "快递三天没动", **extra}, sub=sub
    )
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def escalate(api):
    return run_once(api.db, SERVICE.job("escalate-complaint-breaches"))


def cs(api, cid, action, text="已联系快递，今天送达", shop_id="S1", expect=200):
    r = api.post(f"/api/v1/complaints/{cid}/{action}", json={"text": text}, role="cs", sub="carol", shop_id=shop_id)
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def test_complaint_validation_and_ownership(api):
    assert api.post("/api/v1/complaints", json={"order_id": "O1", "tier": "mild", "text": ""}).status_code == 422
    assert (
        api.post(
            "/api/v1/complaints", json={"order_id": "O1", "tier": "general", "text": "x"}, role="cs", shop_id="S1"
        ).status_code
        == 403
    )
    complain(api, sub="eve", expect=404)
    api.orders.down = True
    complain(api, expect=503)
    assert api.count("complaints") == 0


def test_general_complaint_clock_and_first_response(api):
    c = complain(api)
    assert c["status"] == "open" and c["milestone"] == "first_response" and c["shop_id"] == "S1"
    assert 2 * 3600 - 60 < c["sla"]["seconds_left"] <= 2 * 3600 and c["escalations"] == []
    assert api.events("aftersales.ComplaintEscalated") == []
    [filed] = api.events("aftersales.ComplaintFiled")
    assert {k: filed["payload"][k] for k in ("complaint_id", "shop_id", "order_id", "tier")} == {
        "complaint_id": c["complaint_id"],
        "shop_id": "S1",
        "order_id": "O1",
        "tier": "general",
    }
    answered = cs(api, c["complaint_id"], "respond")
    assert answered["status"] == "responded" and answered["met_at"] and answered["sla"]["seconds_left"] is None
    api.clock.advance(hours=3)
    assert escalate(api) == 0  # answered in time: no breach
    resolved = cs(api, c["complaint_id"], "resolve", "已送达并补偿 10 元券")
    assert resolved["status"] == "resolved"
    cs(api, c["complaint_id"], "respond", expect=409)
    assert [t["action"] for t in resolved["timeline"]] == ["open", "respond", "resolve"]
    last = resolved["timeline"][-1]
    assert set(last) == {"at", "by", "action", "from_status", "status", "reason"}
    assert (last["from_status"], last["status"], last["reason"]) == ("responded", "resolved", "已送达并补偿 10 元券")
    assert resolved["timeline"][0]["from_status"] is None and last["at"].endswith("Z")


def test_crisis_is_escalated_at_once(api):
    c = complain(api, tier="crisis", text="博主曝光产品起火")
    assert [e["kind"] for e in c["escalations"]] == ["crisis"]
    [ev] = api.events("aftersales.ComplaintEscalated")
    assert ev["payload"]["complaint_id"] == c["complaint_id"] and ev["payload"]["tier"] == "crisis"
    assert c["milestone"] == "statement" and c["sla"]["seconds_left"] > 23 * 3600


def test_breaches_are_escalated_once_when_the_clock_moves_on(api):
    general = complain(api)
    serious = complain(api, tier="serious")
    crisis = complain(api, tier="crisis")
    assert escalate(api) == 0
    # A serious complaint's clock waits for a solution: a response alone does not stop it.
    cs(api, serious["complaint_id"], "respond", "正在核实质量问题")
    api.clock.advance(hours=2, minutes=1)
    assert escalate(api) == 1  # general: no first response within 2 h
    assert escalate(api) == 0  # once per breach
    api.clock.advance(hours=2)
    assert escalate(api) == 1  # serious: no solution within 4 h
    api.clock.advance(hours=20)
    assert escalate(api) == 1  # crisis: no statement within 24 h
    assert escalate(api) == 0
    kinds = {(e["payload"]["complaint_id"], e["payload"]["kind"]) for e in api.events("aftersales.ComplaintEscalated")}
    assert kinds == {
        (crisis["complaint_id"], "crisis"),
        (general["complaint_id"], "breach:first_response"),
        (serious["complaint_id"], "breach:solution"),
        (crisis["complaint_id"], "breach:statement"),
    }
    g = api.get(f"/api/v1/complaints/{general['complaint_id']}", role="cs", sub="carol", shop_id="S1").get_json()
    assert g["sla"]["overdue"] and g["escalations"][0]["reason"].startswith("SLA breach")
    overdue = api.get("/api/v1/complaints?overdue=true", role="cs", sub="carol", shop_id="S1").get_json()["items"]
    assert len(overdue) == 3


def test_dashboard_by_tier_with_time_left(api):
    api.orders.add(order_id="O2", shop_id="S2", delivered_at=None)
    g1 = complain(api)
    complain(api, tier="serious")
    complain(api, order_id="O2")  # another shop's
    done = complain(api)
    cs(api, done["complaint_id"], "resolve", "退款完成")
    api.clock.advance(hours=1)
    board = api.get("/api/v1/complaints/dashboard", role="cs", sub="carol", shop_id="S1").get_json()
    general, serious, crisis = (board["tiers"][t] for t in ("general", "serious", "crisis"))
    assert general["open"] == 1 and general["items"][0]["complaint_id"] == g1["complaint_id"]
    assert 3500 < general["items"][0]["seconds_left"] <= 3600 and not general["items"][0]["overdue"]
    assert serious["open"] == 1 and 3 * 3600 - 100 < serious["items"][0]["seconds_left"] <= 3 * 3600
    assert crisis == {"open": 0, "overdue": 0, "escalated": 0, "items": []}
    api.clock.advance(hours=1, minutes=5)
    general = api.get("/api/v1/complaints/dashboard", role="cs", sub="carol", shop_id="S1").get_json()["tiers"][
        "general"
    ]
    assert general["overdue"] == 1 and general["items"][0]["seconds_left"] < 0
    everyone = api.get("/api/v1/complaints/dashboard", role="admin", sub="root").get_json()
    assert everyone["tiers"]["general"]["open"] == 2
    assert api.get("/api/v1/complaints/dashboard", role="buyer").status_code == 403


def test_complaint_tenancy(api):
    c = complain(api)
    cid = c["complaint_id"]
    assert api.get(f"/api/v1/complaints/{cid}", sub="eve").status_code == 404
    assert api.get(f"/api/v1/complaints/{cid}", role="cs", sub="x", shop_id="S2").status_code == 404
    cs(api, cid, "respond", shop_id="S2", expect=404)
    assert api.get(f"/api/v1/complaints/{cid}").get_json()["status"] == "open"
    assert [x["complaint_id"] for x in api.get("/api/v1/complaints").get_json()["items"]] == [cid]
    assert api.get("/api/v1/complaints", sub="eve").get_json()["items"] == []
    assert api.get("/api/v1/complaints?tier=serious", role="cs", sub="c", shop_id="S1").get_json()["items"] == []


def test_migration_matches_the_models(api):
    """models.py and migrations/0001 describe the same tables (alembic autogenerate finds nothing)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from aftersales.models import metadata
    from ecom_common.db import common_metadata

    with api.db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, [metadata, common_metadata])
    assert diff == []


def test_phones_people_write_are_masked_on_arrival(api):
    """Complaint text, cs replies and case evidence: a phone in them is masked before it is stored,
    so no list, event or log can carry it (found by tests/reliability/test_security.py)."""
    c = complain(api, text="三天没到，回电13812345678")
    assert "13812345678" not in c["text"] and "138****5678" in c["text"]
    replied = cs(api, c["complaint_id"], "respond", text="请拨打13900001111联系快递")
    assert "13900001111" not in str(replied)
    case = api.open_case(evidence={"images": [], "text": "有事打13812345678"})
    listed = api.get("/api/v1/complaints", role="cs", sub="carol", shop_id="S1").get_data(as_text=True)
    cases = api.get("/api/v1/cases", role="cs", sub="carol", shop_id="S1").get_data(as_text=True)
    assert "13812345678" not in listed + cases + str(case) and "138****5678" in cases
    assert api.count("complaints") == 1 and "13812345678" not in str(api.events())


def test_a_phone_in_a_complaint_is_masked_in_any_spelling(api):
    text = "回电+86 139-8765-1236或８６１３９８７６５１２３６，运单SF1398765123612345678"
    c = complain(api, text=text)
    assert c["text"] == "回电139****1236或139****1236，运单SF1398765123612345678"
    listed = api.get("/api/v1/complaints", role="cs", sub="carol", shop_id="S1").get_data(as_text=True)
    assert "139****1236或139****1236" in listed and "8765-1236" not in listed and "７６５" not in listed


def test_cs_reclassifies_a_complaint_with_a_reason(api):
    c = complain(api)  # the buyer chose general
    cid = c["complaint_id"]
    api.clock.advance(hours=1)
    r = api.post(
        f"/api/v1/complaints/{cid}/tier",
        json={"tier": "serious", "reason": "买家反映质量问题（开线）"},
        role="cs",
        sub="carol",
        shop_id="S1",
    )
    assert r.status_code == 200, r.get_json()
    k = r.get_json()
    assert (k["tier"], k["milestone"]) == ("serious", "solution")
    assert 4 * 3600 - 60 < k["sla"]["seconds_left"] <= 4 * 3600  # the serious clock runs from the change
    assert k["timeline"][-1]["action"] == "reclassify" and "general -> serious" in k["timeline"][-1]["reason"]
    # unchanged tier, a buyer, another shop's cs
    same = {"tier": "serious", "reason": "x"}
    assert api.post(f"/api/v1/complaints/{cid}/tier", json=same, role="cs", shop_id="S1").status_code == 409
    assert api.post(f"/api/v1/complaints/{cid}/tier", json=same).status_code == 403
    r = api.post(f"/api/v1/complaints/{cid}/tier", json={"tier": "crisis", "reason": "x"}, role="cs", shop_id="S2")
    assert r.status_code == 404
    # a crisis escalates at once
    crisis = {"tier": "crisis", "reason": "微博曝光"}
    k = api.post(f"/api/v1/complaints/{cid}/tier", json=crisis, role="cs", shop_id="S1").get_json()
    assert [e["kind"] for e in k["escalations"]] == ["crisis"]
    assert [e["payload"]["kind"] for e in api.events("aftersales.ComplaintEscalated")] == ["crisis"]
    cs(api, cid, "resolve")
    assert (
        api.post(
            f"/api/v1/complaints/{cid}/tier", json={"tier": "general", "reason": "x"}, role="cs", shop_id="S1"
        ).status_code
        == 409
    )
