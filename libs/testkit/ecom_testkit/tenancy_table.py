"""The tenancy matrix's tables (read by test_tenancy_matrix.py): who asks, what each GET route is,
and what the contract (CONTRACTS.md, Auth) says the answer must be.

The rule, as the contract states it: platform roles (admin, reviewer, service; finance without a
shop) see every shop; merchant staff (ops, cs, warehouse, finance with a shop) see their shop; a
buyer sees what they own; staff without a shop see nothing (403 on lists, 404 on single
resources). A principal with several roles sees the union of what each of its roles *that the
route admits* may see. Another tenant's resource answers 404 problem+json, never its data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PLATFORM_ROLES = {"admin", "reviewer", "service"}
STAFF_ROLES = {"ops", "cs", "warehouse", "finance"}
EVERY_SHOP = "every shop"
THEIR_SHOP, THEIR_BUYER = "S2", "eve"  # the tenant whose resources every probe reaches for


@dataclass(frozen=True)
class Who:
    name: str
    roles: tuple[str, ...]
    sub: str
    shop: str | None = None


PRINCIPALS = [
    # platform roles
    Who("admin", ("admin",), "root"),
    Who("reviewer", ("reviewer",), "rita"),
    Who("service", ("service",), "svc"),
    Who("finance(platform)", ("finance",), "fred"),
    # the owning shop's staff, and the other shop's
    *(Who(f"{r}@S2", (r,), f"{r}-s2", "S2") for r in ("ops", "cs", "warehouse", "finance")),
    *(Who(f"{r}@S1", (r,), f"{r}-s1", "S1") for r in ("ops", "cs", "warehouse", "finance")),
    # staff without a shop: nothing
    *(Who(f"{r}@no-shop", (r,), f"{r}-x") for r in ("ops", "cs", "warehouse")),
    # buyers: the owner and another
    Who("buyer eve", ("buyer",), "eve"),
    Who("buyer bob", ("buyer",), "bob"),
    # several roles: the union of what each admitted role may see
    Who("bob buyer+ops@no-shop", ("buyer", "ops"), "bob"),
    Who("bob buyer+cs@no-shop", ("buyer", "cs"), "bob"),
    Who("bob buyer+ops@S1", ("buyer", "ops"), "bob", "S1"),
    Who("eve buyer+ops@S1", ("buyer", "ops"), "eve", "S1"),
]


def grants(who: Who, admitted: set[str]) -> set:
    """What `who` may see through the roles a route admits: EVERY_SHOP, ("shop", id), ("buyer", sub)."""
    out: set = set()
    for role in admitted:
        if role in PLATFORM_ROLES or (role == "finance" and who.shop is None):
            out.add(EVERY_SHOP)
        elif role in STAFF_ROLES and who.shop:
            out.add(("shop", who.shop))
        elif role == "buyer":
            out.add(("buyer", who.sub))
    return out


@dataclass(frozen=True)
class Route:
    """kind: one (a single resource of S2's), list (a list that may hold S2's rows), shop (one shop's
    settings or figures, asked for S2 by ?shop_id=), open (platform reference data, not tenanted).
    roles: what the route's role check admits (None: any valid token). path: placeholder -> key of
    the seeded S2 ids (or a literal in quotes). marker: key of the S2 id a 200 must show.
    buyer_owned: S2's resource belongs to buyer eve, who may see it. public: a list row anyone may
    see (a listed product). holds_s2: the seeded S2 has rows in this list. sight: the roles whose
    grants let a caller see the resource, where fewer than the admitted ones do (a product's review
    trail: not finance, not buyers); the others get 404, as for another tenant's resource."""

    kind: str
    roles: frozenset | None = None
    path: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    marker: str | None = None
    buyer_owned: bool = False
    public: tuple | None = None
    holds_s2: bool = False
    sight: frozenset | None = None


def _r(*roles: str) -> frozenset:
    return frozenset(roles)


ORDER_READERS = _r("buyer", "ops", "finance", "cs", "warehouse", "admin", "service")
AFTERSALES_READERS = _r("buyer", "cs", "ops", "warehouse", "finance", "admin", "service")
SHIPMENT_READERS = _r("warehouse", "ops", "admin", "cs", "service")
MONEY_READERS = _r("finance", "admin", "ops")
MARKETING_READERS = _r("ops", "finance", "admin", "service")
CLAIM_READERS = _r("buyer", "ops", "cs", "finance", "admin", "service")
S2 = {"shop_id": THEIR_SHOP}

# Every GET route of the services but the public four (health, readiness, metrics, OpenAPI).
# test_every_get_route_is_in_the_matrix fails when a url_map has a GET route this table lacks.
ROUTES: dict[tuple[str, str], Route] = {
    ("catalog", "/api/v1/banned-words"): Route("open"),
    ("catalog", "/api/v1/categories"): Route("open"),
    ("catalog", "/api/v1/categories/<category_id>"): Route("open", path={"category_id": "'digital-phones'"}),
    ("catalog", "/api/v1/categories/tree"): Route("open"),
    ("catalog", "/api/v1/products"): Route("list", public=("status", "listed"), holds_s2=True),
    ("catalog", "/api/v1/products/<product_id>"): Route("one", path={"product_id": "draft_id"}, marker="draft_id"),
    ("catalog", "/api/v1/products/<product_id>/timeline"): Route(
        "one",
        path={"product_id": "draft_id"},
        marker="draft_sku",
        sight=_r("admin", "reviewer", "service", "ops", "cs", "warehouse"),
    ),
    ("catalog", "/api/v1/review-queue"): Route("list", _r("reviewer", "admin")),
    ("catalog", "/api/v1/compliance/sweeps"): Route("list", _r("reviewer", "admin")),
    ("catalog", "/api/v1/compliance/findings"): Route("list", _r("reviewer", "admin")),
    ("catalog", "/api/v1/skus/<sku_code>"): Route("one", path={"sku_code": "draft_sku"}, params=S2, marker="draft_sku"),
    ("orders", "/api/v1/audit-rules"): Route("shop", _r("ops", "admin"), params=S2),
    ("orders", "/api/v1/orders"): Route("list", ORDER_READERS, buyer_owned=True, holds_s2=True),
    ("orders", "/api/v1/orders/<order_id>"): Route(
        "one", ORDER_READERS, path={"order_id": "order_id"}, marker="order_id", buyer_owned=True
    ),
    ("orders", "/api/v1/orders/counts"): Route("shop", ORDER_READERS, params=S2, buyer_owned=True),
    ("orders", "/api/v1/sla"): Route("list", _r("ops", "cs", "warehouse", "admin", "service")),
    ("inventory", "/api/v1/reservations"): Route(
        "list", _r("warehouse", "ops", "admin", "service", "cs"), holds_s2=True
    ),
    ("inventory", "/api/v1/reservations/<order_id>"): Route(
        "one", _r("warehouse", "ops", "admin", "service", "cs"), path={"order_id": "order_id"}, marker="order_id"
    ),
    ("inventory", "/api/v1/stock"): Route("list", _r("warehouse", "ops", "admin", "finance", "service"), holds_s2=True),
    ("inventory", "/api/v1/stock-policy"): Route("shop", _r("ops", "warehouse", "admin", "service"), params=S2),
    ("inventory", "/api/v1/stock/<sku_code>"): Route(
        "one",
        _r("warehouse", "ops", "admin", "finance", "service", "cs"),
        path={"sku_code": "sku_code"},
        params=S2,
        marker="sku_code",
    ),
    ("inventory", "/api/v1/stock/<sku_code>/movements"): Route(
        "one",
        _r("warehouse", "ops", "admin", "finance", "service"),
        path={"sku_code": "sku_code"},
        params=S2,
        marker="sku_code",
    ),
    ("inventory", "/api/v1/stock/replenishment"): Route("shop", _r("warehouse", "ops", "admin"), params=S2),
    ("inventory", "/api/v1/reports/promotion-cover"): Route("shop", _r("warehouse", "ops", "admin"), params=S2),
    ("inventory", "/api/v1/reports/slow-movers"): Route("shop", _r("warehouse", "ops", "admin"), params=S2),
    ("inventory", "/api/v1/warehouses"): Route("shop", _r("warehouse", "ops", "admin", "service"), params=S2),
    ("aftersales", "/api/v1/cases"): Route("list", AFTERSALES_READERS, buyer_owned=True, holds_s2=True),
    ("aftersales", "/api/v1/cases/<case_id>"): Route(
        "one", AFTERSALES_READERS, path={"case_id": "case_id"}, marker="case_id", buyer_owned=True
    ),
    ("aftersales", "/api/v1/complaints"): Route("list", AFTERSALES_READERS, buyer_owned=True, holds_s2=True),
    ("aftersales", "/api/v1/complaints/<complaint_id>"): Route(
        "one", AFTERSALES_READERS, path={"complaint_id": "complaint_id"}, marker="complaint_id", buyer_owned=True
    ),
    ("aftersales", "/api/v1/complaints/dashboard"): Route("shop", _r("cs", "ops", "admin"), params=S2),
    ("aftersales", "/api/v1/feedback/report"): Route("shop", _r("cs", "ops", "admin", "finance"), params=S2),
    ("aftersales", "/api/v1/messages"): Route("list", _r("buyer", "cs", "ops", "admin"), buyer_owned=True),
    ("aftersales", "/api/v1/sla"): Route("list", _r("cs", "ops", "admin", "service")),
    ("aftersales", "/api/v1/reviews"): Route("list", _r("buyer", "cs", "ops", "admin", "service"), buyer_owned=True),
    ("aftersales", "/api/v1/reviews/report"): Route("shop", _r("cs", "ops", "admin", "finance"), params=S2),
    ("aftersales", "/api/v1/disputes"): Route(
        "list", _r("buyer", "cs", "ops", "finance", "admin", "reviewer", "service"), buyer_owned=True
    ),
    ("aftersales", "/api/v1/cases/<case_id>/service"): Route(
        "one", _r("cs", "ops", "admin", "service"), path={"case_id": "case_id"}, marker="case_id"
    ),
    ("aftersales", "/api/v1/complaints/<complaint_id>/service"): Route(
        "one", _r("cs", "ops", "admin", "service"), path={"complaint_id": "complaint_id"}, marker="complaint_id"
    ),
    ("logistics", "/api/v1/carrier-rules"): Route("shop", _r("admin", "warehouse", "ops"), params=S2),
    ("logistics", "/api/v1/carriers/stats"): Route("shop", SHIPMENT_READERS | _r("finance"), params=S2),
    ("logistics", "/api/v1/carriers"): Route("open", _r("admin", "warehouse", "ops", "cs", "service")),
    ("logistics", "/api/v1/promotion-periods"): Route("open"),
    ("logistics", "/api/v1/shipments"): Route("list", SHIPMENT_READERS, holds_s2=True),
    ("logistics", "/api/v1/sla"): Route("list", SHIPMENT_READERS),
    ("logistics", "/api/v1/shipments/<shipment_id>"): Route(
        "one", SHIPMENT_READERS, path={"shipment_id": "shipment_id"}, marker="shipment_id"
    ),
    ("logistics", "/api/v1/shipments/<shipment_id>/waybill"): Route(
        "one", _r("warehouse", "ops", "admin", "service"), path={"shipment_id": "shipment_id"}, marker="shipment_id"
    ),
    ("logistics", "/api/v1/shipments/exceptions"): Route("list", SHIPMENT_READERS),
    ("logistics", "/api/v1/shipments/stats"): Route("shop", SHIPMENT_READERS, params=S2),
    ("logistics", "/api/v1/shipping/sender"): Route("shop", _r("ops", "admin", "warehouse"), params=S2),
    ("logistics", "/api/v1/shipping/templates"): Route(
        "shop", _r("ops", "admin", "warehouse", "cs", "service"), params=S2
    ),
    ("billing", "/api/v1/commission-rates"): Route("list", _r("admin", "finance")),
    ("billing", "/api/v1/invoices"): Route(
        "list", _r("buyer", "finance", "admin", "ops", "cs", "service"), buyer_owned=True
    ),
    ("billing", "/api/v1/ledger"): Route("list", MONEY_READERS, holds_s2=True),
    ("billing", "/api/v1/payments"): Route(
        "list", _r("buyer", "finance", "admin", "ops", "cs", "service"), buyer_owned=True, holds_s2=True
    ),
    ("billing", "/api/v1/payments/<payment_id>"): Route(
        "one",
        _r("buyer", "finance", "admin", "ops", "cs", "service"),
        path={"payment_id": "payment_id"},
        marker="payment_id",
        buyer_owned=True,
    ),
    ("billing", "/api/v1/payouts"): Route("list", MONEY_READERS),
    ("billing", "/api/v1/reconciliation"): Route("shop", MONEY_READERS, params={**S2, "date": "today"}),
    ("billing", "/api/v1/reconciliation/three-way"): Route("shop", MONEY_READERS, params={**S2, "day": "today"}),
    ("billing", "/api/v1/refunds"): Route("list", _r("finance", "admin", "ops", "cs", "service"), holds_s2=True),
    ("billing", "/api/v1/refunds/<refund_id>"): Route(
        "one", _r("finance", "admin", "ops", "cs", "service"), path={"refund_id": "refund_id"}, marker="refund_id"
    ),
    ("billing", "/api/v1/settlements"): Route("list", MONEY_READERS),
    ("marketing", "/api/v1/campaigns"): Route("list", MARKETING_READERS, holds_s2=True),
    ("marketing", "/api/v1/campaigns/<campaign_id>"): Route(
        "one", MARKETING_READERS, path={"campaign_id": "campaign_id"}, marker="campaign_id"
    ),
    ("marketing", "/api/v1/promotions"): Route("list", MARKETING_READERS, holds_s2=True),
    ("marketing", "/api/v1/promotions/<promotion_id>"): Route(
        "one", MARKETING_READERS, path={"promotion_id": "promotion_id"}, marker="promotion_id"
    ),
    ("marketing", "/api/v1/coupon-templates"): Route("list", MARKETING_READERS, holds_s2=True),
    ("marketing", "/api/v1/coupon-templates/<template_id>"): Route(
        "one", MARKETING_READERS, path={"template_id": "template_id"}, marker="template_id"
    ),
    # the coupons a buyer can claim: public offers, like listed products
    ("marketing", "/api/v1/coupon-offers"): Route("open"),
    ("marketing", "/api/v1/promotion-periods"): Route("open"),
    ("marketing", "/api/v1/coupon-claims"): Route("list", CLAIM_READERS, buyer_owned=True, holds_s2=True),
    ("marketing", "/api/v1/coupon-claims/<claim_id>"): Route(
        "one", CLAIM_READERS, path={"claim_id": "claim_id"}, marker="claim_id", buyer_owned=True
    ),
    ("marketing", "/api/v1/members/<buyer_id>"): Route(
        "one", CLAIM_READERS, path={"buyer_id": "buyer"}, params=S2, marker="buyer", buyer_owned=True
    ),
    # A closed past period: its figures cannot move while the matrix runs (analytics projects S2's
    # events asynchronously), so the admin's answer and S2's staff's are compared as they are.
    ("analytics", "/api/v1/kpis"): Route(
        "shop", _r("ops", "finance", "admin"), params={**S2, "from": "2026-01-01", "to": "2026-01-31"}
    ),
    ("analytics", "/api/v1/campaigns/roi"): Route(
        "shop", _r("ops", "finance", "admin"), params={**S2, "from": "2026-01-01", "to": "2026-01-31"}
    ),
    ("analytics", "/api/v1/experiments/<experiment_id>"): Route(
        "one", _r("ops", "finance", "admin", "service"), path={"experiment_id": "experiment_id"}, marker="experiment_id"
    ),
    ("analytics", "/api/v1/experiments/<experiment_id>/assignment"): Route(
        "one",
        _r("service", "admin", "ops"),
        path={"experiment_id": "experiment_id"},
        params={"visitor_id": "eve"},
        marker="experiment_id",
    ),
    ("analytics", "/api/v1/experiments/<experiment_id>/report"): Route(
        "one", _r("ops", "finance", "admin"), path={"experiment_id": "experiment_id"}, marker="experiment_id"
    ),
}

# The expectations a case can carry (its test id names one)
SEES = "200 with S2's data"
HIDDEN = "404, none of S2's data"
REFUSED = "403"
NOTHING_LIST = "403 (staff without shop)"
NOTHING_OR_PUBLIC = "403 or only public rows (staff without shop)"
NOTHING_SHOP = "403/404 (staff without shop)"
SCOPED = "200 without S2's rows"
OWN_FIGURES = "404 or not S2's figures"
OPEN = "200"
OPEN_OR_REFUSED = "200 or 403 (reference data)"


def expectation(route: Route, who: Who) -> str:
    admitted = set(who.roles) if route.roles is None else set(who.roles) & route.roles
    if not admitted:
        return REFUSED
    seen = grants(who, admitted & route.sight if route.sight is not None else admitted)
    sees = EVERY_SHOP in seen or ("shop", THEIR_SHOP) in seen or (route.buyer_owned and ("buyer", THEIR_BUYER) in seen)
    if route.kind == "open":
        return OPEN if seen else OPEN_OR_REFUSED
    if not seen:  # only the roles of a staff member without a shop
        if route.kind == "list" and route.public:  # rows anyone may see (listed products) are no leak
            return NOTHING_OR_PUBLIC
        return {"one": HIDDEN, "list": NOTHING_LIST, "shop": NOTHING_SHOP}[route.kind]
    if route.kind == "list":
        return SEES if sees else SCOPED
    if route.kind == "shop":
        return SEES if sees else OWN_FIGURES
    return SEES if sees else HIDDEN


def row_visible(route: Route, who: Who, row: dict) -> bool:
    """May `who` see this list row, through the roles the route admits?"""
    admitted = set(who.roles) if route.roles is None else set(who.roles) & route.roles
    seen = grants(who, admitted)
    if route.public and row.get(route.public[0]) == route.public[1]:
        return True
    return (
        EVERY_SHOP in seen
        or ("shop", row.get("shop_id")) in seen
        or (route.buyer_owned and "buyer_id" in row and ("buyer", row["buyer_id"]) in seen)
    )


def cases() -> list[tuple[str, str, Who, str]]:
    return [(svc, rule, who, expectation(route, who)) for (svc, rule), route in ROUTES.items() for who in PRINCIPALS]
