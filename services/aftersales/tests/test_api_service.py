"""Service clocks and ownership (首问负责制) over HTTP: every case and complaint gets a ticket with
first response (15 min) / solution (24 h) / resolution (72 h) clocks; the first agent who answers
owns it unless one is assigned; notes and contacts are on the follow-up record; overdue clocks are
escalated once by the job; GET /sla shows every running clock within the caller's shop."""

from __future__ import annotations

from aftersales.app import SERVICE
from ecom_common.jobs import run_once


def escalate(api):
    return run_once(api.db, SERVICE.job("escalate-service-clocks"))


def service(api, path, role="cs", shop_id="S1", expect=200):
    r = api.get(f"/api/v1/{path}/service", role=role, sub="carol", shop_id=shop_id)
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def post(api, path, body, role="cs", sub="carol", shop_id="S1", expect=201):
    r = api.post(f"/api/v1/{path}", json=body, role=role, sub=sub, shop_id=shop_id)
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def clocks(ticket):
    return {c["milestone"]: c for c in ticket["clocks"]}


def test_a_case_gets_clocks_and_the_first_agent_who_answers_owns_it(api):
    case = api.open_case()
    t = service(api, f"cases/{case['case_id']}")
    assert t["owner"] is None and t["case_id"] == case["case_id"]
    c = clocks(t)
    assert 14 * 60 < c["first_response"]["seconds_left"] <= 15 * 60
    assert c["solution"]["seconds_left"] <= 24 * 3600 and c["resolution"]["seconds_left"] <= 72 * 3600
    t = post(
        api, f"cases/{case['case_id']}/follow-ups", {"entry": "contact", "channel": "phone", "text": "已电话联系买家"}
    )
    assert t["owner"] == "carol" and clocks(t)["first_response"]["met_at"] and not clocks(t)["solution"]["met_at"]
    assert [f["entry"] for f in t["follow_ups"]] == ["assign", "contact"]
    # another agent's decision meets the solution clock; carol still owns it
    api.act(case["case_id"], "approve", sub="dave")
    t = service(api, f"cases/{case['case_id']}")
    assert t["owner"] == "carol" and clocks(t)["solution"]["met_at"] and not clocks(t)["resolution"]["met_at"]
    t = post(api, f"cases/{case['case_id']}/assign", {"owner": "erin", "reason": "轮班"}, expect=200)
    assert t["owner"] == "erin" and "carol -> erin" in t["follow_ups"][-1]["text"]
    # tenancy: another shop's cs, a buyer
    service(api, f"cases/{case['case_id']}", shop_id="S2", expect=404)
    assert api.get(f"/api/v1/cases/{case['case_id']}/service").status_code == 403
    post(api, f"cases/{case['case_id']}/follow-ups", {"entry": "note", "text": "x"}, shop_id="S2", expect=404)


def test_a_rejected_case_is_resolved(api):
    case = api.open_case()
    api.act(case["case_id"], "reject", {"reason": "超出时限"})
    t = service(api, f"cases/{case['case_id']}")
    assert all(c["met_at"] for c in t["clocks"]) and t["owner"] == "carol"


def test_overdue_clocks_are_escalated_once_and_shown_on_the_board(api):
    case = api.open_case()
    r = api.post("/api/v1/complaints", json={"order_id": "O1", "tier": "general", "text": "快递三天没动"})
    cid = r.get_json()["complaint_id"]
    board = api.get("/api/v1/sla", role="cs", sub="carol", shop_id="S1").get_json()["items"]
    kinds = {(i["kind"], i["id"]) for i in board}
    assert ("service.case.first_response", case["case_id"]) in kinds and ("case.response", case["case_id"]) in kinds
    assert ("complaint.first_response", cid) in kinds and ("service.complaint.first_response", cid) in kinds
    assert all(not i["breached"] for i in board)
    assert api.get("/api/v1/sla", role="cs", sub="x", shop_id="S2").get_json()["items"] == []
    assert api.get("/api/v1/sla", role="cs", sub="x").status_code == 403
    api.clock.advance(minutes=16)
    assert escalate(api) == 2 and escalate(api) == 0
    events = api.events("aftersales.ServiceClockBreached")
    assert {(e["payload"]["kind"], e["payload"]["milestone"]) for e in events} == {
        ("case", "first_response"),
        ("complaint", "first_response"),
    }
    board = api.get("/api/v1/sla", role="admin", sub="root").get_json()["items"]
    assert any(i["breached"] and i["kind"] == "service.case.first_response" for i in board)
    # the complaint answered late: its next clock (solution) is met too, the resolution runs
    api.post(f"/api/v1/complaints/{cid}/respond", json={"text": "已催快递"}, role="cs", sub="carol", shop_id="S1")
    t = service(api, f"complaints/{cid}")
    assert clocks(t)["first_response"]["breached"] and t["owner"] == "carol"
    assert not clocks(t)["resolution"]["met_at"]
    api.clock.advance(hours=73)
    assert escalate(api) == 3  # the case's solution and resolution, the complaint's resolution
