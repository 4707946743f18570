"""The shop's shipping configuration: templates and the quotes computed from them, the waybill
sender, the platform's carriers, each shop's carrier rules, and the promotion periods."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware
from ecom_common.errors import RetryLater, RuleViolation, UnprocessableEntity

from .. import domain
from ..models import Carrier, CarrierRuleSet, PromotionPeriod, ShippingTemplate, ShopSender
from ..settings import Context


# Templates, quotes, senders --------------------------------------------------------------------
def template_for(ctx: Context, shop_id: str) -> tuple[domain.Template, str]:
    """The shop's template and where it comes from: `shop` (its own) or `default` (the seed)."""
    row = ctx.session.get(ShippingTemplate, shop_id)
    if row is None:
        return ctx.settings.default_template(), "default"
    return domain.Template.from_dict(row.body), "shop"


def shop_template(ctx: Context, shop_id: str) -> tuple[domain.Template, str, ShippingTemplate | None]:
    """The shop's template, its source and its stored row (who changed it when; None: the seed)."""
    template, source = template_for(ctx, shop_id)
    return template, source, ctx.session.get(ShippingTemplate, shop_id)


def replace_template(
    ctx: Context, shop_id: str, body: dict[str, Any]
) -> tuple[domain.Template, str, ShippingTemplate | None]:
    """Replace the shop's template; province names are normalised, an unknown one is 422."""
    template = domain.Template.from_dict(body)
    ctx.session.merge(
        ShippingTemplate(shop_id=shop_id, body=template.to_dict(), updated_at=ctx.now, updated_by=ctx.actor.id)
    )
    ctx.session.flush()
    return shop_template(ctx, shop_id)


def drop_template(ctx: Context, shop_id: str) -> None:
    """The platform default applies to the shop again."""
    ctx.session.execute(sa.delete(ShippingTemplate).where(ShippingTemplate.shop_id == shop_id))


def quote(ctx: Context, shop_id: str, parcel: domain.Parcel) -> tuple[domain.Quote, str]:
    """The fee of one parcel by the shop's template, and which template priced it."""
    template, source = template_for(ctx, shop_id)
    return domain.quote(template, parcel.province, parcel.weight_g, parcel.goods_fen), source


def sender_for(ctx: Context, shop_id: str) -> tuple[dict[str, Any], str]:
    """The sender printed on the shop's waybills and its source (`shop` or `default`)."""
    row = ctx.session.get(ShopSender, shop_id)
    if row is None:
        return ctx.settings.default_sender, "default"
    return dict(row.body), "shop"


def replace_sender(ctx: Context, shop_id: str, sender: dict[str, Any]) -> dict[str, Any]:
    """Replace the shop's sender; an unknown province is 422. Answers the sender as stored."""
    stored = {**sender, "province": domain.require_province(sender["province"])}
    ctx.session.merge(ShopSender(shop_id=shop_id, body=stored, updated_at=ctx.now, updated_by=ctx.actor.id))
    ctx.session.flush()
    return stored


# Carriers, carrier rules, promotion periods ----------------------------------------------------
def carriers(ctx: Context) -> list[Carrier]:
    return list(ctx.session.execute(sa.select(Carrier).order_by(Carrier.code)).scalars())


def replace_carriers(ctx: Context, items: list[dict[str, Any]]) -> list[Carrier]:
    """Listed carriers are created or updated, unlisted ones deactivated (never deleted: shipments
    keep referring to them). Each code once (422). Answers every carrier."""
    codes = [c["code"] for c in items]
    if len(codes) != len(set(codes)):
        raise UnprocessableEntity("each carrier code once", {"items": ["Duplicate carrier code."]})
    for item in items:
        ctx.session.merge(
            Carrier(
                code=item["code"],
                name=item["name"],
                active=item["active"],
                services=item.get("services"),
                updated_at=ctx.now,
            )
        )
    ctx.session.execute(sa.update(Carrier).where(Carrier.code.not_in(codes)).values(active=False, updated_at=ctx.now))
    ctx.session.flush()
    return carriers(ctx)


def active_carriers(ctx: Context) -> set[str]:
    return set(ctx.session.execute(sa.select(Carrier.code).where(Carrier.active.is_(True))).scalars())


def require_active_carrier(ctx: Context, code: str, field_name: str = "carrier") -> Carrier:
    carrier = ctx.session.get(Carrier, code)
    if carrier is None or not carrier.active:
        raise RuleViolation(
            f"carrier {code!r} is unknown or inactive", {field_name: [f"Unknown or inactive carrier {code!r}."]}
        )
    return carrier


def carrier_rules_for(ctx: Context, shop_id: str) -> domain.RuleSet:
    """The shop's carrier rules, or the default ones from the settings."""
    row = ctx.session.get(CarrierRuleSet, shop_id)
    if row is None:
        return domain.RuleSet(ctx.settings.default_rules(), ctx.settings.default_carrier, "default")
    rules = [domain.CarrierRule.from_dict(r) for r in row.rules]
    return domain.RuleSet(rules, row.default_carrier or ctx.settings.default_carrier, "shop")


def replace_carrier_rules(ctx: Context, shop_id: str, rule_set: domain.RuleSet) -> domain.RuleSet:
    """Replace the shop's rules; a carrier that does not exist (active or not) is 422."""
    known = set(ctx.session.execute(sa.select(Carrier.code)).scalars())
    unknown = sorted({r.carrier for r in rule_set.rules} - known)
    if unknown:
        raise UnprocessableEntity("unknown carrier", {"rules": [f"Unknown carrier {c!r}." for c in unknown]})
    if rule_set.default_carrier and rule_set.default_carrier not in known:
        raise UnprocessableEntity(
            "unknown carrier", {"default_carrier": [f"Unknown carrier {rule_set.default_carrier!r}."]}
        )
    ctx.session.merge(
        CarrierRuleSet(
            shop_id=shop_id,
            rules=[r.to_dict() for r in rule_set.rules],
            default_carrier=rule_set.default_carrier,
            updated_at=ctx.now,
            updated_by=ctx.actor.id,
        )
    )
    ctx.session.flush()
    default = rule_set.default_carrier or ctx.settings.default_carrier
    return domain.RuleSet(rule_set.rules, default, "shop")


def promotion_periods(ctx: Context) -> list[domain.PromotionPeriod]:
    """The periods in force: marketing's (copied from its events; cancelled ones left out) and any
    declared here with PUT /promotion-periods (the older way, kept as a fallback)."""
    rows = ctx.session.execute(
        sa.select(PromotionPeriod).where(PromotionPeriod.cancelled.is_(False)).order_by(PromotionPeriod.starts_at)
    ).scalars()
    return [domain.PromotionPeriod(r.name, aware(r.starts_at), aware(r.ends_at)) for r in rows]


def copy_period(ctx: Context, period_id: str, version: int, values: dict) -> str:
    """marketing.PromotionPeriodDeclared / Cancelled: keep marketing's period, the highest version
    seen winning (an older event delivered late changes nothing). `values`: name, starts_at,
    ends_at, or cancelled=True. A cancellation of a period not seen yet waits for its declaration
    (RetryLater). Returns what happened: updated | inserted | stale."""
    table = PromotionPeriod.__table__
    updated = ctx.session.execute(
        table.update()
        .where(table.c.period_id == period_id, sa.or_(table.c.version.is_(None), table.c.version < version))
        .values(**values, version=version)
    ).rowcount
    if updated:
        return "updated"
    if ctx.session.execute(sa.select(table.c.id).where(table.c.period_id == period_id)).first() is not None:
        return "stale"
    if values.get("cancelled"):
        raise RetryLater(f"promotion period {period_id} cancelled before it was declared here")
    ctx.session.execute(table.insert().values(**values, period_id=period_id, version=version, cancelled=False))
    return "inserted"


def replace_periods(ctx: Context, periods: list[domain.PromotionPeriod]) -> list[domain.PromotionPeriod]:
    """Replace the periods declared here (shipments keep the deadline they were given; marketing's
    copies stay); answers them all."""
    ctx.session.execute(sa.delete(PromotionPeriod).where(PromotionPeriod.period_id.is_(None)))
    for p in periods:
        ctx.session.add(PromotionPeriod(name=p.name, starts_at=p.starts_at, ends_at=p.ends_at))
    ctx.session.flush()
    return promotion_periods(ctx)
