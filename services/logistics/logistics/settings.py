"""logistics' settings: every `LOGISTICS_*` variable the service reads, with its default (README
"Settings", checked by tests/test_settings.py). Figures derived from several variables (the seed
template's weight rule, the waybill sender) are properties, computed from the fields."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ecom_common.settings import ServiceSettings, setting
from ecom_common.usecase import Ctx

from . import domain

# The sender printed on a waybill when the shop set none (LOGISTICS_DEFAULT_SENDER_JSON overrides keys).
DEFAULT_SENDER = {
    "name": "发货仓",
    "phone": "400-800-0000",
    "province": "浙江",
    "city": "杭州市",
    "district": "余杭区",
    "detail": "仓前街道文一西路 1 号 电商物流园 A 仓",
}


def provinces(raw: str) -> tuple[str, ...]:
    """A comma-separated list of provinces, normalised to short names (an unknown one is refused)."""
    return tuple(domain.parse_province_list(raw))


def sender_json(raw: str) -> dict[str, Any]:
    """The keys of DEFAULT_SENDER to replace, as a JSON object."""
    return dict(json.loads(raw))


@dataclass(frozen=True)
class Settings(ServiceSettings):
    carrier_webhook_secret: str | None = setting(
        "LOGISTICS_CARRIER_WEBHOOK_SECRET",
        None,
        "key of the carriers' signed tracking webhook; unset, the webhook answers 503",
    )
    remote_provinces: tuple[str, ...] = setting(
        "LOGISTICS_REMOTE_PROVINCES",
        ("新疆", "西藏", "内蒙古"),
        "remote regions: never free, surcharged, EMS by default",
        parse=provinces,
    )
    remote_surcharge_fen: int = setting("LOGISTICS_REMOTE_SURCHARGE_FEN", 1500, "seed template's remote surcharge")
    free_provinces: tuple[str, ...] = setting(
        "LOGISTICS_FREE_PROVINCES", ("江苏", "浙江", "上海"), "seed template's free-shipping regions", parse=provinces
    )
    first_weight_g: int = setting("LOGISTICS_FIRST_WEIGHT_G", 1000, "seed template's first weight, grams")
    first_weight_fen: int = setting("LOGISTICS_FIRST_WEIGHT_FEN", 1000, "seed template's price of the first weight")
    additional_weight_g: int = setting("LOGISTICS_ADDITIONAL_WEIGHT_G", 1000, "seed template's additional step, grams")
    additional_weight_fen: int = setting(
        "LOGISTICS_ADDITIONAL_WEIGHT_FEN", 500, "seed template's price of each started additional step"
    )
    dispatch_hours: float = setting("LOGISTICS_DISPATCH_HOURS", 24.0, "hours from payment to the dispatch deadline")
    promo_dispatch_hours: float = setting(
        "LOGISTICS_PROMO_DISPATCH_HOURS", 48.0, "the same when paid within a promotion period"
    )
    print_hours: float = setting(
        "LOGISTICS_PRINT_HOURS", 1.0, "hours from the audit (shipment created) to the waybill printed"
    )
    handover_hours: float = setting(
        "LOGISTICS_HANDOVER_HOURS", 2.0, "hours from the waybill printed to the parcel handed to the carrier"
    )
    pickup_hours: float = setting(
        "LOGISTICS_PICKUP_HOURS", 2.0, "hours from the dispatch notice (or a carrier change) to the carrier's pickup"
    )
    on_time_hours: float = setting(
        "LOGISTICS_ON_TIME_HOURS", 72.0, "a delivery within this many hours of the dispatch counts as on time"
    )
    stall_hours: float = setting("LOGISTICS_STALL_HOURS", 48.0, "hours without carrier progress before a stall")
    heavy_parcel_g: int = setting(
        "LOGISTICS_HEAVY_PARCEL_G", 20000, "from this weight a parcel goes to the heavy carrier"
    )
    next_day_provinces: tuple[str, ...] = setting(
        "LOGISTICS_NEXT_DAY_PROVINCES", ("江苏", "浙江", "上海"), "regions of the next-day carrier", parse=provinces
    )
    next_day_carrier: str = setting("LOGISTICS_NEXT_DAY_CARRIER", "SF", "default rules' next-day carrier")
    remote_carrier: str = setting("LOGISTICS_REMOTE_CARRIER", "EMS", "default rules' carrier for remote regions")
    heavy_carrier: str = setting("LOGISTICS_HEAVY_CARRIER", "DBL", "default rules' carrier for heavy parcels")
    default_carrier: str = setting("LOGISTICS_DEFAULT_CARRIER", "ZTO", "the carrier when no rule applies")
    default_sender_json: dict[str, Any] | None = setting(
        "LOGISTICS_DEFAULT_SENDER_JSON",
        None,
        "JSON object replacing keys of the default waybill sender",
        parse=sender_json,
    )

    @property
    def weight_rule(self) -> domain.WeightRule:
        """The seed template's default weight rule."""
        return domain.WeightRule(
            self.first_weight_g, self.first_weight_fen, self.additional_weight_g, self.additional_weight_fen
        )

    @property
    def default_sender(self) -> dict[str, Any]:
        """The sender of a shop that set none: DEFAULT_SENDER with LOGISTICS_DEFAULT_SENDER_JSON's keys."""
        return {**DEFAULT_SENDER, **(self.default_sender_json or {})}

    def default_template(self) -> domain.Template:
        return domain.default_template(
            self.remote_provinces, self.free_provinces, self.weight_rule, self.remote_surcharge_fen
        )

    def default_rules(self) -> list[domain.CarrierRule]:
        return domain.default_carrier_rules(
            remote=self.remote_provinces,
            next_day=self.next_day_provinces,
            heavy_g=self.heavy_parcel_g,
            carriers=domain.RuleCarriers(
                remote=self.remote_carrier, heavy=self.heavy_carrier, next_day=self.next_day_carrier
            ),
        )


# The context every logistics use case runs in (operations/): `verb(ctx: Context, thing, ...)`.
Context = Ctx[Settings]
