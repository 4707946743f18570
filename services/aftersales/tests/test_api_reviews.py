"""Reviews and NPS over HTTP: once per delivered order, risk keywords raise ReviewRiskFlagged, a
1-2 star review opens cs's follow-up task (24 h clock, escalated when overdue), the shop replies
once, the per-shop report with NPS."""

from __future__ import annotations

from aftersales.app import SERVICE
from ecom_common.jobs import run_once


def review(api, expect=201, sub="bob", **body):
    body.setdefault("order_id", "O1")
    body.setdefault("stars", 5)
    r = api.post("/api/v1/reviews", json=body, sub=sub)
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def test_a_good_review_once_per_delivered_order(api):
    api.orders.add(order_id="O2", status="shipped")
    review(api, order_id="O2", expect=409)  # not delivered yet
    review(api, sub="eve", expect=404)  # someone else's order
    r = review(api, stars=5, text="很好，物流快", nps=10, images=["https://img.example/1.jpg"])
    assert r["follow_up_task"] is None and r["risk_keywords"] == [] and r["nps"] == 10
    review(api, stars=4, expect=409)  # once per order
    assert api.events("aftersales.ReviewRiskFlagged") == []
    # analytics' NPS: the scores in the same transaction, no text, nothing about the buyer
    [reviewed] = api.events("aftersales.OrderReviewed")
    assert set(reviewed["payload"]) == {"review_id", "order_id", "shop_id", "stars", "nps", "at"}
    assert (reviewed["payload"]["review_id"], reviewed["payload"]["stars"], reviewed["payload"]["nps"]) == (
        r["review_id"],
        5,
        10,
    )
    reply = {"text": "感谢支持"}
    r = api.post(f"/api/v1/reviews/{r['review_id']}/reply", json=reply, role="cs", sub="carol", shop_id="S1")
    assert r.status_code == 200 and r.get_json()["reply"] == "感谢支持"
    assert (
        api.post(f"/api/v1/reviews/{r.get_json()['review_id']}/reply", json=reply, role="cs", shop_id="S1").status_code
        == 409
    )
    assert (
        api.post(f"/api/v1/reviews/{r.get_json()['review_id']}/reply", json=reply, role="cs", shop_id="S2").status_code
        == 404
    )
    mine = api.get("/api/v1/reviews").get_json()["items"]
    assert [x["order_id"] for x in mine] == ["O1"]
    assert api.get("/api/v1/reviews", role="buyer", sub="eve").get_json()["items"] == []


def test_a_bad_review_with_a_risk_word_alerts_and_opens_a_task(api):
    r = review(api, stars=1, text="收到的是假货，用了过敏", nps=0)
    assert r["risk_keywords"] == ["假货", "过敏"]
    [alert] = api.events("aftersales.ReviewRiskFlagged")
    assert alert["payload"]["keywords"] == ["假货", "过敏"] and alert["payload"]["shop_id"] == "S1"
    task = r["follow_up_task"]
    assert task["milestone"] == "follow_up" and 23 * 3600 < task["seconds_left"] <= 24 * 3600
    board = api.get("/api/v1/sla", role="cs", sub="carol", shop_id="S1").get_json()["items"]
    assert ("service.review.follow_up", r["review_id"]) in {(i["kind"], i["id"]) for i in board}
    api.clock.advance(hours=25)
    assert run_once(api.db, SERVICE.job("escalate-service-clocks")) == 1
    [breach] = api.events("aftersales.ServiceClockBreached")
    assert (breach["payload"]["kind"], breach["payload"]["milestone"]) == ("review", "follow_up")
    # a note does not close the task, a contact does; the agent owns it
    path = f"/api/v1/reviews/{r['review_id']}/follow-ups"
    api.post(path, json={"entry": "note", "text": "待联系"}, role="cs", sub="carol", shop_id="S1")
    [item] = api.get("/api/v1/reviews", role="cs", sub="carol", shop_id="S1").get_json()["items"]
    assert item["follow_up_task"]["met_at"] is None and item["follow_up_task"]["owner"] == "carol"
    t = api.post(
        path, json={"entry": "contact", "channel": "phone", "text": "已致电道歉并退款"}, role="cs", shop_id="S1"
    )
    assert t.status_code == 201
    [item] = api.get("/api/v1/reviews", role="cs", sub="carol", shop_id="S1").get_json()["items"]
    assert item["follow_up_task"]["met_at"] and item["follow_up_task"]["breached"]


def test_the_report_counts_stars_and_nps(api):
    for n, (stars, nps) in enumerate([(5, 10), (4, 9), (2, 3), (5, None)]):
        api.orders.add(order_id=f"O{n + 10}")
        review(api, order_id=f"O{n + 10}", stars=stars, nps=nps)
    r = api.get("/api/v1/reviews/report", role="cs", sub="carol", shop_id="S1").get_json()
    assert (r["count"], r["average_stars"], r["bad_reviews"], r["nps_answers"]) == (4, 4.0, 1, 3)
    assert r["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 2}
    assert r["nps"] == 33.3  # 2 promoters, 1 detractor of 3
    assert api.get("/api/v1/reviews/report", role="cs", shop_id="S2").get_json()["count"] == 0
