"""Reviews held pending (banned words): cs/ops of the shop publish or reject them with a reason
(guarded: 409 unless pending), each step on the review's timeline; the list filters by status."""

from __future__ import annotations


def review(api, order_id="O1", text="全网第一好用的面膜"):
    r = api.post("/api/v1/reviews", json={"order_id": order_id, "stars": 4, "text": text})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def moderate(api, review_id, action, reason="已核实", role="cs", sub="carol", shop_id="S1", expect=200):
    body = {"reason": reason} if reason is not None else {}
    r = api.post(f"/api/v1/reviews/{review_id}/{action}", json=body, role=role, sub=sub, shop_id=shop_id)
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def listed(api, status, role="cs", sub="carol", shop_id="S1"):
    r = api.get("/api/v1/reviews", query_string={"status": status}, role=role, sub=sub, shop_id=shop_id)
    assert r.status_code == 200, r.get_json()
    return [x["review_id"] for x in r.get_json()["items"]]


def test_a_held_review_is_published_once_with_its_reason_on_the_timeline(api):
    held = review(api)
    assert [(t["action"], t["status"], t["by"]) for t in held["timeline"]] == [("review", "pending", "bob")]
    assert "全网第一" in held["timeline"][0]["reason"]
    done = moderate(api, held["review_id"], "publish", reason="用户描述真实体验，非广告")
    assert done["status"] == "published"
    assert done["timeline"][-1] == {
        **done["timeline"][-1],
        "action": "publish",
        "from_status": "pending",
        "status": "published",
        "by": "carol",
        "reason": "用户描述真实体验，非广告",
    }
    moderate(api, held["review_id"], "publish", expect=409)  # decided already
    moderate(api, held["review_id"], "reject", role="ops", sub="olga", expect=409)
    assert listed(api, "published") == [held["review_id"]] and listed(api, "pending") == []


def test_a_rejected_review_stays_out_of_the_published_list(api):
    held = review(api)
    done = moderate(api, held["review_id"], "reject", reason="含违禁广告用语", role="ops", sub="olga")
    assert done["status"] == "rejected" and done["timeline"][-1]["by"] == "olga"
    assert listed(api, "rejected") == [held["review_id"]]
    assert listed(api, "published") == [] and listed(api, "pending") == []
    mine = api.get("/api/v1/reviews", role="buyer", sub="bob").get_json()["items"]
    assert [r["status"] for r in mine] == ["rejected"]


def test_who_may_moderate_and_what_is_refused(api):
    held = review(api)
    moderate(api, held["review_id"], "publish", role="buyer", sub="bob", shop_id=None, expect=403)
    moderate(api, held["review_id"], "publish", role="warehouse", sub="wang", expect=403)
    moderate(api, held["review_id"], "publish", role="cs", sub="chen", shop_id="S2", expect=404)
    moderate(api, held["review_id"], "publish", reason=None, expect=422)
    moderate(api, held["review_id"], "publish", reason="", expect=422)
    moderate(api, "V-nope", "reject", expect=404)
    assert listed(api, "pending") == [held["review_id"]]  # nothing changed
    api.orders.add(order_id="O2", delivered_at=api.now_iso(days=-1))
    clean = review(api, order_id="O2", text="很好用")
    assert clean["status"] == "published"
    moderate(api, clean["review_id"], "reject", expect=409)  # never held
    moderate(api, held["review_id"], "publish", role="admin", sub="root", shop_id=None)
    r = api.get("/api/v1/reviews", query_string={"status": "bogus"}, role="cs", sub="carol", shop_id="S1")
    assert r.status_code == 422
