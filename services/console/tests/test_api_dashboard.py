"""The dashboard's figures and charts (analytics), the to-do tiles with their SLA by role, the case
actions beyond approve/reject, complaints by tier and the marketing page, over a fake of the
services."""

from __future__ import annotations

import re

from console import domain

DAYS = [f"2026-11-{d:02d}" for d in range(3, 31)] + [f"2026-12-{d:02d}" for d in range(1, 4)]  # 31 days
SERIES = [{"day": day, "paid_fen": 1000 * (n + 1), "paid_orders": 1} for n, day in enumerate(DAYS[:-2])] + [
    {"day": "2026-12-02", "paid_fen": 100000, "paid_orders": 12, "paying_buyers": 8},
    {
        "day": "2026-12-03",
        "paid_fen": 125000,
        "paid_orders": 12,
        "paying_buyers": 10,
        "aov_fen": 12500,
        "conversion": 0.0312,
    },
]
KPIS = {"from": "2026-11-03", "to": "2026-12-03", "kpis": {}, "change": {}, "series": SERIES}
BOARD = {
    "tiers": {
        "general": {
            "open": 2,
            "overdue": 1,
            "escalated": 1,
            "items": [
                {
                    "complaint_id": "K1",
                    "order_id": "O1",
                    "status": "open",
                    "milestone_met": False,
                    "seconds_left": -600,
                    "overdue": True,
                    "escalated": True,
                    "due_at": "2026-12-03T08:00:00Z",
                },
                {
                    "complaint_id": "K2",
                    "order_id": "O2",
                    "status": "open",
                    "milestone_met": False,
                    "seconds_left": 3000,
                    "overdue": False,
                    "escalated": False,
                    "due_at": "2026-12-03T10:00:00Z",
                },
            ],
        },
        "serious": {"open": 0, "overdue": 0, "escalated": 0, "items": []},
        "crisis": {
            "open": 1,
            "overdue": 0,
            "escalated": 1,
            "items": [
                {
                    "complaint_id": "K3",
                    "order_id": "O3",
                    "status": "open",
                    "milestone_met": False,
                    "seconds_left": 7200 * 10,
                    "overdue": False,
                    "escalated": True,
                    "due_at": "2026-12-04T08:00:00Z",
                },
            ],
        },
    }
}


def main_of(html: str) -> str:
    return html.split("<main>")[1]


def test_bar_chart_scales_to_the_peak():
    chart = domain.bar_chart([("d1", 0), ("d2", 50), ("d3", 100)], width=300, height=100)
    assert [b.height for b in chart.bars] == [0.0, 50.0, 100.0] and chart.peak == 100
    assert [b.y for b in chart.bars] == [100.0, 50.0, 0.0] and chart.bars[1].x == 101.0
    assert all(b.height == 0 for b in domain.bar_chart([("d1", 0), ("d2", 0)]).bars)
    assert domain.percent(0.0312) == "3.12%" and domain.percent(None) == "—"
    assert domain.most_urgent([None, 30, -5]) == -5 and domain.most_urgent([None]) is None


def test_ops_sees_todays_figures_and_the_charts(client, signed_in, fake):
    signed_in("olivia", ["ops"], "S1")
    fake.on("GET", "/api/v1/kpis", body=KPIS)
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="kpi-paid_fen-value">¥1250.00<' in html and "2026-12-03" in html
    assert 'data-testid="kpi-aov_fen-value">¥125.00<' in html and 'data-testid="kpi-conversion-value">3.12%<' in html
    assert "支付金额" in html and "客单价" in html and "较昨日 +25.00%" in html and "较昨日 +0.00%" in html
    week, month = html.split('data-testid="chart-7"')[1], html.split('data-testid="chart-30"')[1]
    assert week.split("</figure>")[0].count('data-testid="chart-bar"') == 7
    assert month.split("</figure>")[0].count('data-testid="chart-bar"') == 30
    # the last 30 days of one report ending on analytics' today, asked with ops' own token
    assert 'data-day="2026-11-03"' not in html and 'data-day="2026-11-04"' in html
    asked = [c for c in fake.calls if c[3] == "/api/v1/kpis"]
    assert len(asked) == 2 and set(asked[-1][4]) == {"from"}  # one call per page (the other: signing in)
    assert asked[-1][0].sub == "olivia" and asked[-1][0].shop_id == "S1"
    assert "<script" not in main_of(html)  # charts drawn server-side


def test_cs_sees_no_figures_but_complaints_by_tier_with_time_left(client, signed_in, fake):
    signed_in("cathy", ["cs"], "S1")
    fake.on("GET", "/api/v1/complaints/dashboard", body=BOARD)
    fake.on(
        "GET",
        "/api/v1/shipments/exceptions",
        body={"items": [{"shipment_id": "H1", "time_in_exception_s": 3 * 3600 + 60}]},
    )
    fake.on(
        "GET",
        "/api/v1/cases",
        body={"items": [{"case_id": "C1", "sla": {"seconds_left": 5400, "overdue": False}}]},
    )
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="kpis"' not in html and not any(c[3] == "/api/v1/kpis" for c in fake.calls)
    assert 'data-testid="todo-complaints_general-count">2<' in html
    general = html.split('data-testid="todo-complaints_general"')[1].split("</a>")[0]
    assert "tile breached" in html.split('data-testid="todo-complaints_general"')[0][-80:]
    assert (
        "1 条已超时" in general
        and 'class="breach" data-testid="todo-complaints_general-left">最紧急： 超时 0小时10分' in general
    )
    crisis = html.split('data-testid="todo-complaints_crisis"')[1].split("</a>")[0]
    assert "时效 24 h" in crisis and "剩余 20小时0分" in crisis
    stalled = html.split('data-testid="todo-stalled"')[1].split("</a>")[0]
    assert ">1<" in stalled and "等待最久： 3小时1分" in stalled and "时效 48 h" in stalled
    assert "剩余 1小时30分" in html.split('data-testid="todo-cases"')[1].split("</a>")[0]
    assert 'data-testid="todo-to_dispatch"' not in html  # cs does not dispatch


def test_finance_sees_figures_and_no_complaints(client, signed_in, fake):
    signed_in("fiona", ["finance"], "S1")
    fake.on("GET", "/api/v1/kpis", status=503, body={"detail": "away"})
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="kpis-error"' in html
    assert 'data-testid="todo-complaints_general"' not in html and 'data-testid="todo-stalled"' not in html


def test_warehouse_receives_a_return_and_cs_retries_a_failed_refund(client, signed_in, fake):
    case = {"case_id": "C2", "order_id": "O2", "type": "return", "reason": "x", "amount_fen": 100, "sla": None}
    fake.on("GET", "/api/v1/cases", body={"items": [{**case, "status": "awaiting_return"}]})
    csrf = signed_in("wang", ["warehouse"], "S1")
    html = client.get("/cases?status=awaiting_return").get_data(as_text=True)
    assert 'data-testid="case-receive"' in html and 'data-testid="case-approve"' not in html
    fake.on("POST", "/api/v1/cases/C2/receive", body={**case, "status": "refunding"})
    resp = client.post(
        "/cases/C2/receive", data={"csrf_token": csrf, "resellable": "no", "note": "屏幕碎"}, follow_redirects=True
    )
    assert "售后单 C2 的退货已签收" in resp.get_data(as_text=True)
    post = [c for c in fake.calls if c[2] == "POST"][-1]
    assert post[3] == "/api/v1/cases/C2/receive" and post[5] == {"resellable": False, "note": "屏幕碎"}
    # cs: a refund that failed at billing is asked again; one under way has no button
    failed = {**case, "status": "refunding", "refund": {"failed": True, "last_error": "bank down", "attempts": 1}}
    fake.on(
        "GET",
        "/api/v1/cases",
        body={
            "items": [
                failed,
                {**case, "case_id": "C3", "status": "refunding", "refund": {"failed": False, "attempts": 1}},
            ]
        },
    )
    client.post("/signout", data={"csrf_token": csrf})
    csrf = signed_in("cathy", ["cs"], "S1")
    html = client.get("/cases?status=refunding").get_data(as_text=True)
    assert html.count('data-testid="case-retry-refund"') == 1 and "bank down" in html and "退款中" in html
    assert 'data-testid="case-receive"' not in html
    fake.on("POST", "/api/v1/cases/C2/retry-refund", body=failed)
    resp = client.post("/cases/C2/retry-refund", data={"csrf_token": csrf}, follow_redirects=True)
    assert "已重新发起售后单 C2 的退款" in resp.get_data(as_text=True)


def test_complaints_page_by_tier_most_urgent_first_and_cs_answers(client, signed_in, fake):
    csrf = signed_in("cathy", ["cs"], "S1")
    fake.on("GET", "/api/v1/complaints/dashboard", body=BOARD)
    html = client.get("/complaints").get_data(as_text=True)
    assert re.findall(r'data-complaint-id="(K\d)"', html) == ["K1", "K2", "K3"]
    assert "一般 (2) · 2 h" in html and "超时 0小时10分" in html and 'data-testid="complaint-escalated"' in html
    html = client.get("/complaints?tier=crisis").get_data(as_text=True)
    assert re.findall(r'data-complaint-id="(K\d)"', html) == ["K3"]
    fake.on("POST", "/api/v1/complaints/K1/resolve", body={})
    resp = client.post("/complaints/K1/resolve", data={"csrf_token": csrf, "text": "已补发"}, follow_redirects=True)
    assert "投诉 K1 已解决" in resp.get_data(as_text=True)
    assert fake.calls[-2][3:] == ("/api/v1/complaints/K1/resolve", None, {"text": "已补发"})
    resp = client.post("/complaints/K1/respond", data={"csrf_token": csrf, "text": " "}, follow_redirects=True)
    assert "请填写给买家的答复" in resp.get_data(as_text=True)


def test_marketing_for_ops_only_with_roi(client, signed_in, fake):
    csrf = signed_in("olivia", ["ops"], "S1")
    assert 'data-testid="nav-marketing"' in client.get("/").get_data(as_text=True)
    promo = {
        "promotion_id": "P1",
        "name": "双12满减",
        "kind": "full_reduction",
        "status": "active",
        "gifts_granted": 0,
        "gift_limit": None,
    }
    fake.on("GET", "/api/v1/promotions", body={"items": [promo]})
    html = client.get("/marketing").get_data(as_text=True)
    assert "双12满减" in html and "满减" in html and 'data-testid="promotion-end"' in html
    campaign = {
        "campaign_id": "M1",
        "name": "年货节",
        "budget_fen": 100000,
        "subsidy_budget_fen": 30000,
        "subsidy_spent_fen": 1000,
        "attributed_gmv_fen": 5000,
        "roi": 5.0,
        "phases": [],
    }
    fake.on("GET", "/api/v1/campaigns", body={"items": [campaign]})
    html = client.get("/marketing?tab=campaigns").get_data(as_text=True)
    assert 'data-testid="campaign-roi">5.0<' in html and "50.00" in html
    coupon = {
        "template_id": "T1",
        "name": "满100减10",
        "funded_by": "shop",
        "status": "active",
        "threshold_fen": 10000,
        "reduction_fen": 1000,
        "claimed_quantity": 3,
        "total_quantity": 100,
        "valid_days": 7,
    }
    fake.on("GET", "/api/v1/coupon-templates", body={"items": [coupon]})
    html = client.get("/marketing?tab=coupons").get_data(as_text=True)
    assert "3 / 100" in html and "领取后 7 天内有效" in html
    fake.on("POST", "/api/v1/coupon-templates/T1/stop", body={})
    resp = client.post("/marketing/coupons/T1/stop", data={"csrf_token": csrf}, follow_redirects=True)
    assert "优惠券 T1 已停止领取" in resp.get_data(as_text=True)


def test_marketing_is_not_for_cs(client, signed_in, fake):
    signed_in("cathy", ["cs"], "S1")
    assert 'data-testid="nav-marketing"' not in client.get("/").get_data(as_text=True)
    assert client.get("/marketing").status_code == 403
    assert not any(c[1] == "marketing" for c in fake.calls)


def test_the_deadline_board_reads_each_services_sla_with_time_left_breaches_in_red(client, signed_in, fake):
    signed_in("cathy", ["cs"], "S1")
    fake.on(
        "GET",
        "/api/v1/sla",
        body={
            "items": [
                {
                    "kind": "order.review",
                    "id": "O7",
                    "due_at": "2026-12-03T10:30:00Z",
                    "seconds_left": 900,
                    "breached": False,
                },
                {
                    "kind": "order.payment",
                    "id": "O8",
                    "due_at": "2026-12-03T09:30:00Z",
                    "seconds_left": -3660,
                    "breached": True,
                },
            ]
        },
    )
    before = len(fake.calls)
    html = client.get("/").get_data(as_text=True)
    sla_reads = sorted(c[1] for c in fake.calls[before:] if c[3] == "/api/v1/sla")
    assert sla_reads == ["aftersales", "logistics", "orders"]  # each service's own board, as cathy
    rows = re.findall(r'data-testid="deadline-row" data-kind="([^"]+)" data-ref="([^"]+)" class="([^"]*)"', html)
    # the fake answers every service alike: the order clocks (breach first) are shown once per source
    assert rows[0] == ("order.payment", "O8", "breach") and ("order.review", "O7", "") in rows
    assert "超时 1小时1分" in html and "剩余 0小时15分" in html and "订单人工审核" in html


def test_the_deadline_board_says_which_service_is_away(client, signed_in, fake):
    signed_in("wang", ["warehouse"], "S1")
    fake.on("GET", "/api/v1/sla", status=503, body={"detail": "away"})
    html = client.get("/").get_data(as_text=True)
    assert html.count('data-testid="deadlines-away"') == 2  # orders and logistics; aftersales not asked
    assert 'data-testid="deadlines-empty"' in html


def test_finance_has_no_deadline_board(client, signed_in, fake):
    signed_in("fiona", ["finance"], "S1")
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="deadlines"' not in html
    assert not [c for c in fake.calls if c[3] == "/api/v1/sla"]
