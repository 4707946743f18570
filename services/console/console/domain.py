"""The console's rules as plain functions: who may do what, what a person sees in the navigation,
staff account checks, sign-in throttling and CSV cells. No Flask, no SQL (mypy --strict)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

# The roles a person signing in to the console may hold (CONTRACTS.md, Auth; not buyer, not service).
ROLES = ("admin", "reviewer", "ops", "cs", "warehouse", "finance")
PLATFORM_ROLES = frozenset({"admin", "reviewer"})
# Merchant staff act for one shop: an account with one of these roles needs a shop (finance without
# a shop is the platform's finance, as in ecom_common.auth).
SHOP_ROLES = frozenset({"ops", "cs", "warehouse"})
MIN_PASSWORD = 10
MAX_NAME = 64

# What a button does -> the roles the service behind it admits (the service decides; the console
# only leaves out the buttons a person may not use).
ACTIONS: Mapping[str, frozenset[str]] = {
    "order.review": frozenset({"ops", "admin"}),
    "order.cancel": frozenset({"ops", "admin"}),
    "order.export": frozenset({"ops", "admin", "finance", "cs", "warehouse"}),
    "order.note": frozenset({"ops", "cs", "warehouse", "admin"}),
    "order.contact": frozenset({"ops", "cs", "admin"}),
    "product.review": frozenset({"reviewer"}),
    "product.edit": frozenset({"ops"}),
    "stock.adjust": frozenset({"warehouse", "admin"}),
    "shipment.dispatch": frozenset({"warehouse"}),
    "shipment.waybill": frozenset({"warehouse", "ops", "admin"}),
    "shipment.change_carrier": frozenset({"warehouse"}),
    "shipment.exception": frozenset({"warehouse", "ops", "cs", "admin"}),
    "case.approve": frozenset({"cs", "admin"}),
    "case.reject": frozenset({"cs", "admin"}),
    "case.receive": frozenset({"warehouse", "admin"}),
    "case.retry_refund": frozenset({"cs", "admin"}),
    "complaint.answer": frozenset({"cs", "admin"}),
    "kpis.read": frozenset({"ops", "finance", "admin"}),
    "marketing.read": frozenset({"ops", "admin"}),
    "marketing.manage": frozenset({"ops", "admin"}),
    "staff.manage": frozenset({"admin"}),
}


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str  # an English msgid; the page translates it (zh_CN by default)
    endpoint: str
    roles: frozenset[str]


NAV: tuple[NavItem, ...] = (
    NavItem("dashboard", "Dashboard", "console.dashboard", frozenset(ROLES)),
    NavItem("orders", "Orders", "console.orders", frozenset({"ops", "cs", "warehouse", "finance", "admin"})),
    NavItem("products", "Products", "console.products", frozenset({"ops", "reviewer", "admin"})),
    NavItem("order_review", "Order review", "console.order_review", frozenset({"ops", "admin"})),
    NavItem("product_review", "Product review", "console.product_review", frozenset({"reviewer", "admin"})),
    NavItem("shipping", "Shipping", "console.shipping", frozenset({"warehouse", "ops", "admin"})),
    NavItem("stock", "Stock", "console.stock", frozenset({"warehouse", "ops", "admin", "finance"})),
    NavItem("finance", "Finance", "console.finance", frozenset({"finance", "ops", "admin"})),
    NavItem("cases", "After-sales", "console.cases", frozenset({"cs", "ops", "admin", "finance"})),
    NavItem("complaints", "Complaints", "console.complaints", frozenset({"cs", "ops", "admin"})),
    NavItem("marketing", "Marketing", "console.marketing", frozenset({"ops", "admin"})),
    NavItem("staff", "Staff", "console.staff", frozenset({"admin"})),
)


def can(roles: Iterable[str], action: str) -> bool:
    """Whether a person with `roles` is shown the button of `action` (unknown actions: never)."""
    return bool(ACTIONS.get(action, frozenset()) & set(roles))


def navigation(roles: Iterable[str]) -> list[NavItem]:
    held = set(roles)
    return [item for item in NAV if item.roles & held]


def staff_errors(name: str, roles: Sequence[str], shop_id: str | None, password: str | None) -> dict[str, list[str]]:
    """What is wrong with a new staff account, by field (empty: nothing)."""
    errors: dict[str, list[str]] = {}
    if not name or len(name) > MAX_NAME or not all(c.isalnum() or c in "._-" for c in name):
        errors["name"] = ["1 to 64 letters, digits, dots, dashes or underscores."]
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        errors["roles"] = ["Choose at least one of: " + ", ".join(ROLES) + "."]
    elif set(roles) & SHOP_ROLES and not shop_id:
        errors["shop_id"] = ["Merchant staff (ops, cs, warehouse) need a shop."]
    if shop_id is not None and (len(shop_id) > 64 or not shop_id.strip()):
        errors["shop_id"] = ["At most 64 characters."]
    if password is not None and len(password) < MIN_PASSWORD:
        errors["password"] = [f"At least {MIN_PASSWORD} characters."]
    return errors


def throttled(failures_of_name: int, failures_of_address: int, max_failures: int) -> bool:
    """A name, or a client address, with `max_failures` failed sign-ins in the window waits."""
    return failures_of_name >= max_failures or failures_of_address >= max_failures * 4


# Spreadsheet formula injection: a cell a spreadsheet would read as a formula is written as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def yuan(fen: int | None) -> str:
    """Fen as yuan with two decimals (`12345` -> `123.45`)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def duration_parts(seconds: float) -> tuple[bool, int, int]:
    """(overdue, hours, minutes) of a time left (negative: overdue by that much)."""
    overdue = seconds < 0
    total = int(abs(seconds)) // 60
    return overdue, total // 60, total % 60


# Words for the services' codes (English msgids; the page translates them).
LABELS: Mapping[str, str] = {
    "pending_payment": "Pending payment",
    "paid": "Paid",
    "awaiting_stock": "Awaiting stock",
    "on_hold": "On hold",
    "awaiting_shipment": "Awaiting shipment",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "to_pay": "To pay",
    "to_ship": "To ship",
    "to_receive": "To receive",
    "ship_pending": "To dispatch",
    "ship_dispatched": "Dispatched",
    "ship_in_transit": "In transit",
    "ship_delivered": "Delivered",
    "ship_exception": "Exceptions",
    "case_requested": "Requested",
    "case_approved": "Approved",
    "case_awaiting_return": "Awaiting return",
    "case_received": "Received",
    "case_refunding": "Refunding",
    "case_rejected": "Rejected",
    "case_reshipped": "Reshipped",
    "case_closed": "Closed",
    "product_draft": "Draft",
    "product_pending_review": "Pending review",
    "product_rejected": "Rejected",
    "product_listed": "Listed",
    "product_delisted": "Delisted",
    "product_deleted": "Deleted",
    "adjust_inbound": "Inbound",
    "adjust_damage": "Damaged",
    "adjust_loss": "Lost",
    "adjust_count_correction": "Count correction",
    "finance_payments": "Payments",
    "finance_refunds": "Refunds",
    "finance_ledger": "Ledger",
    "finance_settlements": "Settlements",
    "tier_general": "General",
    "tier_serious": "Serious",
    "tier_crisis": "Crisis",
    "complaint_open": "Open",
    "complaint_responded": "Responded",
    "complaint_resolved": "Resolved",
    "marketing_promotions": "Promotions",
    "marketing_coupons": "Coupons",
    "marketing_campaigns": "Campaigns",
    "promotion_active": "Running",
    "promotion_ended": "Ended",
    "coupon_active": "Claimable",
    "coupon_stopped": "Stopped",
    "kind_full_reduction": "Spend and save",
    "kind_timed_discount": "Timed discount",
    "kind_first_order": "First order",
    "kind_first_n_gift": "Gift to the first N",
    "kind_buy_n_gift": "Buy N, get a gift",
    "kind_gift_over_amount": "Gift over an amount",
    "phase_warm-up": "Warm-up",
    "phase_burst": "Burst",
    "phase_return": "Return",
    "role_admin": "Admin",
    "role_reviewer": "Reviewer",
    "role_ops": "Operations",
    "role_cs": "Customer service",
    "role_warehouse": "Warehouse",
    "role_finance": "Finance",
    "search_order_id": "Order number",
    "search_phone": "Receiver phone (full or last 4)",
    "search_receiver_name": "Receiver name",
    "search_buyer_id": "Buyer",
    "search_sku_code": "SKU",
    "channel_phone": "Phone call",
    "channel_sms": "SMS",
    "channel_im": "Chat",
    "channel_email": "Email",
    "outcome_reached": "Reached",
    "outcome_verified": "Verified",
    "outcome_no_answer": "No answer",
    "outcome_wrong_number": "Wrong number",
    "outcome_refused": "Declined",
    "outcome_callback_requested": "Call back requested",
    "sla_order.payment": "Order awaiting payment",
    "sla_order.review": "Order manual review",
    "sla_shipment.print": "Waybill to print",
    "sla_shipment.handover": "Handover to the carrier",
    "sla_shipment.dispatch": "Shipment to dispatch",
    "sla_shipment.pickup": "Carrier pickup",
    "sla_case": "After-sales case",
    "sla_complaint": "Complaint",
    "sla_service": "Service ticket",
}


def label(code: str) -> str:
    return LABELS.get(code, code)


# Complaint tiers and the clock of each (aftersales' defaults: first response 2 h, solution 4 h,
# statement 24 h), in the order the dashboard shows them.
COMPLAINT_TIERS: tuple[tuple[str, str], ...] = (("general", "2 h"), ("serious", "4 h"), ("crisis", "24 h"))


def most_urgent(seconds_left: Iterable[float | None]) -> float | None:
    """The least time left of running clocks (negative: overdue); None when no clock runs."""
    running = [s for s in seconds_left if s is not None]
    return min(running) if running else None


@dataclass(frozen=True)
class Bar:
    """One day's bar of a chart, in the SVG's own units (y grows downwards)."""

    x: float
    y: float
    width: float
    height: float
    day: str
    value: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    peak: int


def bar_chart(points: Sequence[tuple[str, int]], width: int = 560, height: int = 140) -> Chart:
    """Bars for (day, value) points scaled to the tallest (all zero: flat), a 2-unit gap between bars.
    Drawn server-side as inline SVG: no script, nothing for the CSP to allow."""
    peak = max((v for _, v in points), default=0)
    step = width / len(points) if points else float(width)
    bars = []
    for i, (day, value) in enumerate(points):
        h = round(height * max(value, 0) / peak, 1) if peak > 0 else 0.0
        bars.append(Bar(round(i * step + 1, 1), round(height - h, 1), round(max(step - 2, 1), 1), h, day, value))
    return Chart(width, height, tuple(bars), peak)


def change(value: float | None, previous: float | None) -> float | None:
    """Relative change (0.25 = +25%); None when either is missing or the previous is 0."""
    if value is None or not previous:
        return None
    return (value - previous) / previous


def percent(ratio: float | None) -> str:
    """A ratio as a percentage with two decimals (`0.0312` -> `3.12%`); '—' when undefined."""
    return "—" if ratio is None else f"{ratio * 100:.2f}%"


# Saved filters: a person's named filters of a list page, kept as the page's query string.
ORDER_FILTERS = ("tab", "status", "buyer_id", "created_from", "created_to")  # the order list's filter fields
MAX_SAVED_FILTERS = 20  # per person and page
MAX_FILTER_NAME = 40
MAX_FILTER_QUERY = 500


def filter_query(params: Mapping[str, str], allowed: Iterable[str]) -> str:
    """The page's filter fields that are set, as a query string in a stable order (nothing else:
    no cursor, no CSRF token)."""
    keys = [k for k in allowed if (params.get(k) or "").strip()]
    return urlencode([(k, params[k].strip()) for k in keys])


def filter_params(query: str, allowed: Iterable[str]) -> dict[str, str]:
    """A saved query string back to the page's filter fields (fields the page no longer has are left out)."""
    known = set(allowed)
    return {k: v for k, v in parse_qsl(query) if k in known}


def saved_filter_errors(name: str, query: str, already: int) -> dict[str, list[str]]:
    """What is wrong with saving `query` as `name` when the person already has `already` filters."""
    errors: dict[str, list[str]] = {}
    if not name.strip() or len(name) > MAX_FILTER_NAME:
        errors["name"] = [f"1 to {MAX_FILTER_NAME} characters."]
    if not query:
        errors["query"] = ["Set a filter first."]
    elif len(query) > MAX_FILTER_QUERY:
        errors["query"] = [f"At most {MAX_FILTER_QUERY} characters."]
    if already >= MAX_SAVED_FILTERS:
        errors["name"] = [f"At most {MAX_SAVED_FILTERS} saved filters; delete one first."]
    return errors


# The order list's search box: what was typed, and what it is (`by`: auto or one of SEARCH_BY).
SEARCH_BY = ("order_id", "phone", "receiver_name", "buyer_id", "sku_code")
MAX_SEARCH = 64
_ORDER_ID = re.compile(r"^O[0-9a-f]{20}$")
_PHONE = re.compile(r"^\+?[0-9\uff10-\uff19 ()\-]+$")
_CJK = re.compile(r"[\u3400-\u9fff]")


def search_filter(q: str, by: str = "auto") -> tuple[str, str] | None:
    """The orders API filter a search stands for: `(field, value)`, field one of SEARCH_BY
    (`order_id`: look the order up). `auto` guesses: an order number; digits (a phone's last four or
    the full number, any spelling); Chinese characters (a receiver's name); else an order number.
    Nothing typed, too long, or a phone with neither 4 nor 7..15 digits: None."""
    q = q.strip()
    if not q or len(q) > MAX_SEARCH:
        return None
    if by in SEARCH_BY:
        field = by
    elif _ORDER_ID.match(q):
        field = "order_id"
    elif _PHONE.match(q):
        field = "phone"
    elif _CJK.search(q):
        field = "receiver_name"
    else:
        field = "order_id"
    if field == "phone":
        digits = sum(ch.isdigit() for ch in q)
        if digits != 4 and not 7 <= digits <= 15:
            return None
    return field, q


# The dashboard's deadline board: the running clocks of orders, logistics and aftersales (each
# service's `GET /api/v1/sla`), most urgent first.
SLA_SOURCES = ("orders", "logistics", "aftersales")
BOARD_SIZE = 20


@dataclass(frozen=True)
class Deadline:
    source: str  # the service: orders, logistics, aftersales
    kind: str  # e.g. order.review, shipment.dispatch, case.refund, complaint.response
    ref: str  # the order, shipment or case/complaint id the clock runs on
    due_at: str
    seconds_left: float
    breached: bool

    @property
    def label(self) -> str:
        """The LABELS key of the clock: its kind, or its family (`case`, `complaint`, `service`)."""
        key = f"sla_{self.kind}"
        return key if key in LABELS else f"sla_{self.kind.split('.')[0]}"


def deadlines(boards: Mapping[str, Mapping[str, object] | None], limit: int = BOARD_SIZE) -> tuple[list[Deadline], int]:
    """The most urgent `limit` clocks of the services' SLA boards (a breach first, then the least time
    left) and the number of breaches over all of them. Logistics' kinds (print, dispatch...) are
    named `shipment.<kind>` and point at their shipment."""
    found: list[Deadline] = []
    for source in SLA_SOURCES:
        items = (boards.get(source) or {}).get("items") or []
        for item in items if isinstance(items, list) else []:
            kind = str(item.get("kind") or "")
            ref = item.get("shipment_id") if source == "logistics" else item.get("id")
            if source == "logistics":
                kind = f"shipment.{kind}"
            left = item.get("seconds_left")
            if not kind or ref is None or not isinstance(left, int | float):
                continue
            breached = bool(item.get("breached")) or left < 0
            found.append(Deadline(source, kind, str(ref), str(item.get("due_at") or ""), float(left), breached))
    found.sort(key=lambda d: (not d.breached, d.seconds_left))
    return found[:limit], sum(1 for d in found if d.breached)
