"""三流合一: one order's funds, invoice and goods compared, as billing knows them at the end of a
day. Pure, `mypy --strict`; reports.three_way gathers the figures, this module judges them.

- funds: what was paid (succeeded payments) against what was payable, refunds against payments,
  a cancelled order's money returned, a settled order's money paid out;
- invoice: an issued invoice's amount against paid less refunded (a refund after issue calls for a
  red-letter invoice, 红字发票);
- goods: units dispatched (logistics.ShipmentDispatched, the order's own shipments; an exchange's
  replacements apart) against units bought, units returned (aftersales.ReturnReceived) against
  units dispatched and against units refunded or replaced, and goods kept on a full refund.
Every mismatch names its flow, a kind (stable, for filters) and a reason a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FUNDS, INVOICE, GOODS = "funds", "invoice", "goods"


@dataclass(frozen=True)
class OrderFlows:
    order_id: str
    shop_id: str
    status: str  # billing's copy: open | cancelled | completed (at the end of the day)
    payable_fen: int
    paid_fen: int  # succeeded payments
    refunded_fen: int  # succeeded refunds
    settled: bool = False
    payment_paid_out: bool = False  # the payment's ledger entry is in a payout
    invoiced_fen: int | None = None  # the issued invoice's amount, None without one
    bought: dict[str, int] = field(default_factory=dict)  # sku -> units bought
    dispatched: dict[str, int] = field(default_factory=dict)  # sku -> units of the order's own shipments
    replaced: dict[str, int] = field(default_factory=dict)  # sku -> units of replacement shipments
    returned: dict[str, int] = field(default_factory=dict)  # sku -> units received back
    refunded_units: dict[str, int] = field(default_factory=dict)  # sku -> units refunded


def goods_without_order(order_id: str, shop_id: str) -> dict[str, Any]:
    """Goods moved for an order billing has no copy of: nothing was owed or paid as far as it knows."""
    return {
        "order_id": order_id,
        "shop_id": shop_id,
        "flow": GOODS,
        "kind": "goods_without_order",
        "reason": "goods moved for an order billing has no record of (no OrderPlaced, no payment)",
    }


def _units(counts: dict[str, int]) -> int:
    return sum(counts.values())


def mismatches(f: OrderFlows) -> list[dict[str, Any]]:
    """Every disagreement between the three flows of one order (empty: they agree)."""
    out: list[dict[str, Any]] = []

    def add(flow: str, kind: str, reason: str, **figures: Any) -> None:
        out.append(
            {"order_id": f.order_id, "shop_id": f.shop_id, "flow": flow, "kind": kind, "reason": reason, **figures}
        )

    net = f.paid_fen - f.refunded_fen
    # funds
    if f.paid_fen and f.paid_fen != f.payable_fen:
        add(FUNDS, "paid_not_payable", f"paid {f.paid_fen} fen, the order asks {f.payable_fen}", paid_fen=f.paid_fen)
    if f.refunded_fen > f.paid_fen:
        add(FUNDS, "refunds_exceed_payments", f"refunded {f.refunded_fen} fen of {f.paid_fen} paid")
    if f.status == "cancelled" and net > 0:
        add(FUNDS, "cancelled_not_refunded", f"cancelled with {net} fen paid and not refunded", net_fen=net)
    if f.settled and net > 0 and not f.payment_paid_out:
        add(FUNDS, "settled_not_paid_out", f"settled, but the payment of {f.paid_fen} fen is in no payout")
    # invoice
    if f.invoiced_fen is not None and f.invoiced_fen != net:
        why = f"invoiced {f.invoiced_fen} fen, paid less refunds is {net}" + (
            ": refunded after issue, a red-letter invoice (红字发票) is due" if f.invoiced_fen > net else ""
        )
        add(INVOICE, "invoice_amount_differs", why, invoiced_fen=f.invoiced_fen, net_fen=net)
    # goods
    shipped = _units(f.dispatched)
    if shipped and not f.paid_fen:
        add(GOODS, "dispatched_unpaid", f"{shipped} units dispatched, nothing paid")
    for sku in sorted(set(f.bought) | set(f.dispatched) | set(f.returned)):
        bought, out_, back = f.bought.get(sku, 0), f.dispatched.get(sku, 0), f.returned.get(sku, 0)
        settled_back = f.refunded_units.get(sku, 0) + f.replaced.get(sku, 0)
        if out_ > bought:
            add(GOODS, "dispatched_exceeds_bought", f"{sku}: {out_} units dispatched, {bought} bought", sku_code=sku)
        elif f.status == "completed" and out_ < bought:
            add(GOODS, "completed_not_dispatched", f"{sku}: completed with {out_} of {bought} dispatched", sku_code=sku)
        if back > out_ + f.replaced.get(sku, 0):
            add(GOODS, "returned_exceeds_dispatched", f"{sku}: {back} units returned, {out_} dispatched", sku_code=sku)
        if back > settled_back:
            add(
                GOODS,
                "returned_not_refunded",
                f"{sku}: {back} units returned, {settled_back} refunded or replaced",
                sku_code=sku,
            )
    kept = shipped - _units(f.returned)
    if f.paid_fen and net <= 0 and kept > 0:
        add(GOODS, "refunded_goods_kept", f"refunded in full, {kept} units dispatched and not returned", units=kept)
    return out
