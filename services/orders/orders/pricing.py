"""Pricing an order: the lines as catalog prices them, marketing's quote applied to them (checked to
add up), and the totals. Pure rules: no Flask, no SQL, no peers (operations.placing asks them)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ecom_common.errors import RuleViolation

# Pricing ---------------------------------------------------------------------------------------------
MAX_LINE_QUANTITY = 9999
MAX_PRESALE_DAYS = 365


HANDLING_MARKS = ("fragile", "liquid")  # catalog's SKU handling marks (易碎, 液体)


@dataclass(frozen=True)
class PricedLine:
    sku_code: str
    quantity: int
    title: str
    category_id: str | None
    list_price_fen: int
    unit_price_fen: int  # the single-item price the buyer pays (catalog's price_fen, then marketing's)
    weight_g: int
    member_price_fen: int | None = None  # catalog's, for marketing to apply to members
    no_7day_return: bool = False  # catalog's special-goods flag, copied onto the line
    # The line's share of the order-level discounts (marketing's quote), by largest remainder.
    discount_fen: int = 0
    # Catalog's presale promise for the SKU (预售: ships within N days of payment), None when in stock.
    presale_ship_days: int | None = None
    # Catalog's SKU spec (规格) and handling marks ("fragile", "liquid") at placing, for the pick list.
    spec: dict[str, Any] | str | None = None  # catalog's: {name: value} or text
    handling: tuple[str, ...] = ()

    @property
    def total_fen(self) -> int:
        return self.unit_price_fen * self.quantity

    @property
    def paid_fen(self) -> int:
        """What the line pays: the single-item price times the quantity, less its share of the
        order-level discounts. Refunds of the line read this."""
        return self.total_fen - self.discount_fen

    @property
    def promo_price_fen(self) -> int | None:
        """Catalog's promotional price, when it sells below the list price."""
        return self.unit_price_fen if self.unit_price_fen < self.list_price_fen else None

    @property
    def list_unit_fen(self) -> int:
        # A "list" price below the effective price is a catalog data slip, not a surcharge.
        return max(self.list_price_fen, self.unit_price_fen)

    @property
    def list_total_fen(self) -> int:
        return self.list_unit_fen * self.quantity


@dataclass(frozen=True)
class Totals:
    goods_fen: int  # at list price
    discount_fen: int  # every saving: list price - single-item price, plus the order-level discounts
    shipping_fen: int
    payable_fen: int

    @property
    def goods_payable_fen(self) -> int:
        """What the buyer pays for the goods (the basis of free-shipping thresholds)."""
        return self.goods_fen - self.discount_fen


@dataclass(frozen=True)
class OrderRequest:
    """What a buyer asks to order, as parsed from the request: not yet checked, priced or quoted."""

    shop_id: str
    buyer_id: str
    lines: list[dict[str, Any]]  # [{sku_code, quantity}]
    address: dict[str, Any]
    note: str = ""
    coupon_claim_ids: tuple[str, ...] = ()  # at most one shop and one platform coupon (marketing checks)
    points: int = 0  # points to redeem (100 = 1 yuan)


# Marketing's quote ---------------------------------------------------------------------------------
FUNDERS = ("shop", "platform")


@dataclass(frozen=True)
class QuotedLine:
    """Marketing's price of one line: the single-item price and the line's share of the order-level
    discounts."""

    sku_code: str
    quantity: int
    unit_price_fen: int
    discount_fen: int


@dataclass(frozen=True)
class Discount:
    """One (line, source) deduction of the quote (`line`: the line's index in the order)."""

    line: int
    sku_code: str
    source: str
    ref: str | None
    amount_fen: int
    funded_by: str


@dataclass(frozen=True)
class Quote:
    """What marketing answered for the order's lines (in their order), and what it locked."""

    lines: tuple[QuotedLine, ...]
    discounts: tuple[Discount, ...]
    points_used: int = 0


class QuoteMismatchError(ValueError):
    """Marketing priced other lines than those asked: a peer's mistake, never the buyer's."""


def apply_quote(lines: list[PricedLine], quote: Quote) -> list[PricedLine]:
    """The lines at marketing's prices. Every amount is checked against what the rows say, so
    that what orders stores and refunds always adds up: each line's discount equals its rows'
    sum, a line never pays less than nothing, the single-item price never exceeds the list price."""
    if [(q.sku_code, q.quantity) for q in quote.lines] != [(p.sku_code, p.quantity) for p in lines]:
        raise QuoteMismatchError("the quote's lines are not the order's lines")
    by_line: dict[int, int] = {}
    for d in quote.discounts:
        if not 0 <= d.line < len(lines) or d.sku_code != lines[d.line].sku_code:
            raise QuoteMismatchError(f"a discount row names line {d.line}, which the order does not have")
        if d.amount_fen <= 0 or d.funded_by not in FUNDERS:
            raise QuoteMismatchError(f"a discount row of {d.amount_fen} fen funded by {d.funded_by!r}")
        by_line[d.line] = by_line.get(d.line, 0) + d.amount_fen
    priced = []
    for i, (line, q) in enumerate(zip(lines, quote.lines, strict=True)):
        if not 0 <= q.unit_price_fen <= line.list_unit_fen:
            raise QuoteMismatchError(f"line {i}: single-item price {q.unit_price_fen} fen out of range")
        if not 0 <= q.discount_fen <= q.unit_price_fen * q.quantity:
            raise QuoteMismatchError(f"line {i}: a discount of {q.discount_fen} fen on what it costs")
        single_item_savings = (line.list_unit_fen - q.unit_price_fen) * q.quantity
        if by_line.get(i, 0) != single_item_savings + q.discount_fen:
            raise QuoteMismatchError(f"line {i}: its discount rows do not add up to what it saves")
        priced.append(replace(line, unit_price_fen=q.unit_price_fen, discount_fen=q.discount_fen))
    return priced


def check_requested_lines(lines: list[dict[str, Any]]) -> None:
    """Shape rules on the buyer's lines before anything is looked up: quantity 1..9999, each SKU once.
    Errors name the line (`lines.<index>.<field>`, index from 0)."""
    errors: dict[str, list[str]] = {}
    seen: dict[str, int] = {}
    for i, line in enumerate(lines):
        qty = line.get("quantity")
        if not isinstance(qty, int) or qty < 1:
            errors[f"lines.{i}.quantity"] = ["Must be at least 1."]
        elif qty > MAX_LINE_QUANTITY:
            errors[f"lines.{i}.quantity"] = [f"Must be at most {MAX_LINE_QUANTITY}."]
        code: Any = line.get("sku_code")
        if code in seen:
            errors[f"lines.{i}.sku_code"] = [f"The same SKU as line {seen[code]}; put the quantity on one line."]
        else:
            seen[code] = i
    if not lines:
        errors["lines"] = ["An order needs at least one line."]
    if errors:
        raise RuleViolation("some order lines are not valid", errors)


def price_lines(lines: list[dict[str, Any]], skus: dict[str, dict[str, Any]]) -> list[PricedLine]:
    """Copy the catalog's prices onto the lines. An unknown SKU or one that cannot be sold (not
    listed, deleted, delisted) is a 422 naming the line."""
    errors: dict[str, list[str]] = {}
    priced: list[PricedLine] = []
    for i, line in enumerate(lines):
        sku = skus.get(line["sku_code"])
        if sku is None:
            errors[f"lines.{i}.sku_code"] = [f"Unknown SKU {line['sku_code']!r} in this shop."]
            continue
        if not sku.get("sellable"):
            errors[f"lines.{i}.sku_code"] = [
                f"SKU {line['sku_code']!r} is not for sale (product {sku.get('product_status') or 'not listed'})."
            ]
            continue
        price = sku.get("price_fen")
        if price is None or price < 0:
            errors[f"lines.{i}.sku_code"] = [f"SKU {line['sku_code']!r} has no price."]
            continue
        list_price = sku.get("list_price_fen")
        priced.append(
            PricedLine(
                sku_code=line["sku_code"],
                quantity=line["quantity"],
                title=sku.get("title") or "",
                category_id=sku.get("category_id"),
                list_price_fen=int(list_price if list_price is not None else price),
                unit_price_fen=int(price),
                weight_g=int(sku.get("weight_g") or 0),
                member_price_fen=sku.get("member_price_fen"),
                no_7day_return=bool(sku.get("no_7day_return")),
                presale_ship_days=presale_days(sku),
                spec=sku.get("spec") or None,
                handling=tuple(h for h in (sku.get("handling") or ()) if h in HANDLING_MARKS),
            )
        )
    if errors:
        raise RuleViolation("some order lines cannot be sold", errors)
    return priced


def presale_days(sku: dict[str, Any]) -> int | None:
    """Catalog's `presale_ship_days` of a SKU: a whole number of days >= 0, else not presale."""
    days = sku.get("presale_ship_days")
    return days if type(days) is int and 0 <= days <= MAX_PRESALE_DAYS else None


def order_presale_days(lines: list[PricedLine]) -> int | None:
    """The order ships when its last line can: the most presale days over the lines, or None."""
    days = [line.presale_ship_days for line in lines if line.presale_ship_days is not None]
    return max(days) if days else None


def total_weight_g(lines: list[PricedLine]) -> int:
    return sum(line.weight_g * line.quantity for line in lines)


def totals(lines: list[PricedLine], shipping_fen: int) -> Totals:
    goods = sum(line.list_total_fen for line in lines)
    discount = goods - sum(line.paid_fen for line in lines)
    return Totals(
        goods_fen=goods, discount_fen=discount, shipping_fen=shipping_fen, payable_fen=goods - discount + shipping_fen
    )
