"""财务: payments, refunds, the merchant ledger with its balance, and settlements (read only: finance
changes nothing else, CONTRACTS.md)."""

from __future__ import annotations

from flask import render_template, request

from .base import blp, get_or_none

TABS = {
    "payments": "/api/v1/payments",
    "refunds": "/api/v1/refunds",
    "ledger": "/api/v1/ledger",
    "settlements": "/api/v1/settlements",
}


@blp.get("/finance")
def finance():
    tab = request.args.get("tab", "payments")
    if tab not in TABS:
        tab = "payments"
    answer = get_or_none("billing", TABS[tab], limit=100)
    return render_template(
        "finance.html",
        tab=tab,
        tabs=tuple(TABS),
        page=answer or {},
        items=(answer or {}).get("items", []),
        loaded=answer is not None,
    )
