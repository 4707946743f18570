"""The extra CPU per order of pricing an order with 满减 and a coupon (issue 16), against an order
without any discount, measured in the same run.

marketing's schema on PostgreSQL (`scratch`), its real Flask app in this process (test client: the
view, the schema, the use case, the engine and the SQL, as `POST /api/v1/quotes` runs under
gunicorn, without the socket). Two shops: `S-PROMO` with a 满200减30 promotion and a shop coupon
template (满100减10, one claim per buyer, claimed before the measurement), and `S-PLAIN` with
nothing. Per run, N orders of each (two lines: 120 yuan x 1 and 60 yuan x 2) are quoted with their
`order_id`, as orders asks when it places one: the discounted order's quote applies the 满减 and the
coupon, apportions both to the lines and locks the claim; the plain one finds nothing to apply and
stores the quote. The two kinds alternate in batches of 20 (the first kind alternating between
runs), so a change of the machine's load falls on both alike.

Per run: CPU ms per quote of each kind (`time.process_time` of this process: Flask, marshmallow,
SQLAlchemy, psycopg, the engine; PostgreSQL's own CPU is not in it), their difference (the extra CPU
of 满减 + coupon) and ratio, wall ms, statements per quote of each (SQLAlchemy
`before_cursor_execute`). One process's CPU time barely moves with the load: the figure to compare
between commits.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import event

from .common import quiet_service_logs, scratch

NAME = "quote_cpu"
BATCH = 20
PROMO, PLAIN = "S-PROMO", "S-PLAIN"
LINES = [
    {"sku_code": "Q-1", "quantity": 1, "list_price_fen": 12000, "category_id": "tea"},
    {"sku_code": "Q-2", "quantity": 2, "list_price_fen": 6000, "category_id": "tea"},
]


def orders(args) -> int:
    return 100 if args.quick else 600


def steps(args) -> int:
    return args.runs


def _ok(resp, status: int = 200) -> dict:
    if resp.status_code != status:
        raise RuntimeError(f"{resp.status_code}: {resp.get_data(as_text=True)[:300]}")
    return resp.get_json()


def seed(client, n_claims: int, run: int) -> list[tuple[str, str]]:
    """The 满减 promotion (once) and a template with one claim per buyer: (buyer, claim_id) pairs."""
    from ecom_testkit import auth

    ops = auth("ops", sub="bench", shop_id=PROMO)
    if run == 0:
        promotion = {
            "kind": "full_reduction",
            "name": "满200减30",
            "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": "2099-01-01T00:00:00Z",
            "tiers": [{"threshold_fen": 20000, "reduction_fen": 3000}],
        }
        _ok(client.post("/api/v1/promotions", json=promotion, headers=ops), 201)
    template = {
        "name": "满100减10",
        "threshold_fen": 10000,
        "reduction_fen": 1000,
        "valid_days": 7,
        "total_quantity": n_claims,
        "per_buyer_limit": 1,
    }
    template_id = _ok(client.post("/api/v1/coupon-templates", json=template, headers=ops), 201)["template_id"]
    pairs = []
    for i in range(n_claims):
        buyer = f"r{run}-b{i}"
        claim = client.post(f"/api/v1/coupon-templates/{template_id}/claims", json={}, headers=auth("buyer", sub=buyer))
        pairs.append((buyer, _ok(claim, 201)["claim_id"]))
    return pairs


def run(args, bar) -> dict:
    from ecom_common.service import load
    from ecom_testkit import auth

    n = orders(args)
    quiet_service_logs()
    logging.getLogger().setLevel(logging.INFO)  # the services' level: the log lines are part of the cost
    service = auth("service", sub="orders")
    runs = []
    with scratch(["marketing"]) as sc:
        db = sc.dbs["marketing"]
        client = load("marketing").create_app(sc.configs["marketing"], db).test_client()
        sent = {"n": 0}
        event.listen(db.engine, "before_cursor_execute", lambda *a: sent.__setitem__("n", sent["n"] + 1))
        for k in range(args.runs):
            pairs = seed(client, n + BATCH, k)
            bodies = {
                "discounted": [
                    {"order_id": f"QD{k}-{i}", "shop_id": PROMO, "buyer_id": b, "lines": LINES, "coupon_claim_ids": [c]}
                    for i, (b, c) in enumerate(pairs)
                ],
                "plain": [
                    {"order_id": f"QP{k}-{i}", "shop_id": PLAIN, "buyer_id": f"r{k}-b{i}", "lines": LINES}
                    for i in range(n + BATCH)
                ],
            }
            expected = {"discounted": 24000 - 3000 - 1000, "plain": 24000}
            for kind in bodies:  # warm-up: connections, caches, the first statements of each kind
                for body in bodies[kind][:BATCH]:
                    assert (
                        _ok(client.post("/api/v1/quotes", json=body, headers=service))["payable_fen"] == expected[kind]
                    )
            cpu = {"discounted": 0.0, "plain": 0.0}
            wall = {"discounted": 0.0, "plain": 0.0}
            statements = {"discounted": 0, "plain": 0}
            order = ("plain", "discounted") if k % 2 == 0 else ("discounted", "plain")
            for start in range(BATCH, n + BATCH, BATCH):
                for kind in order:
                    batch = bodies[kind][start : start + BATCH]
                    sent["n"] = 0
                    c0, w0 = time.process_time(), time.perf_counter()
                    for body in batch:
                        resp = client.post("/api/v1/quotes", json=body, headers=service)
                        if resp.status_code != 200:
                            raise RuntimeError(resp.get_data(as_text=True)[:300])
                    cpu[kind] += time.process_time() - c0
                    wall[kind] += time.perf_counter() - w0
                    statements[kind] += sent["n"]
            last = _ok(client.post("/api/v1/quotes", json=bodies["discounted"][-1], headers=service))
            assert last["payable_fen"] == expected["discounted"], last  # asked again: the stored quote
            plain_ms, discounted_ms = 1000 * cpu["plain"] / n, 1000 * cpu["discounted"] / n
            runs.append(
                {
                    "orders": n,
                    "plain_cpu_ms": plain_ms,
                    "discounted_cpu_ms": discounted_ms,
                    "extra_cpu_ms": discounted_ms - plain_ms,
                    "ratio_to_plain": discounted_ms / plain_ms,
                    "plain_wall_ms": 1000 * wall["plain"] / n,
                    "discounted_wall_ms": 1000 * wall["discounted"] / n,
                    "plain_statements": statements["plain"] / n,
                    "discounted_statements": statements["discounted"] / n,
                }
            )
            bar.update(1)
    rows = [
        ("orders of each kind per run", "orders"),
        ("quote without discounts: CPU ms / order (baseline)", "plain_cpu_ms"),
        ("quote with 满减 + coupon: CPU ms / order", "discounted_cpu_ms"),
        ("extra CPU ms / order of 满减 + coupon", "extra_cpu_ms"),
        ("ratio to the quote without discounts", "ratio_to_plain"),
        ("wall ms / order without discounts", "plain_wall_ms"),
        ("wall ms / order with 满减 + coupon", "discounted_wall_ms"),
        ("statements / order: without", "plain_statements"),
        ("statements / order: with 满减 + coupon", "discounted_statements"),
    ]
    return {
        "runs": runs,
        "rows": rows,
        "settings": {"orders": n, "batch": BATCH, "database": "PostgreSQL", "http": "Flask test client"},
    }
