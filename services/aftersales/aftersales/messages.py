"""The rules of buyer notifications, without Flask or SQL: the zh-CN templates, the quiet hours of
marketing messages and the back-off between attempts.

A template names its category: `service` messages (shipped, held, refund, answers) go out at any
hour and to every buyer; `marketing` messages (review invitations, coupons) respect the buyer's
opt-out, the weekly cap and the quiet hours.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

SERVICE, MARKETING = "service", "marketing"


class MessageStatus:
    PENDING = "pending"  # waiting for its time (not_before) or its next attempt
    SENT = "sent"  # the channel accepted it
    PARKED = "parked"  # every attempt failed; the last error is on it
    SUPPRESSED = "suppressed"  # a marketing message the buyer opted out of, or over the weekly cap

    ALL = (PENDING, SENT, PARKED, SUPPRESSED)


@dataclass(frozen=True)
class Template:
    name: str
    category: str
    text: str  # str.format fields, filled from the message's variables

    def fields(self) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(self.text) if f}

    def render(self, variables: dict[str, Any]) -> str:
        missing = self.fields() - set(variables)
        if missing:
            raise KeyError(f"template {self.name} lacks {sorted(missing)}")
        return self.text.format(**{k: _short(v) for k, v in variables.items()})


def _short(value: Any, limit: int = 120) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            "order_shipped", SERVICE, "【已发货】您的订单{order_id}已发货，{carrier}运单号{tracking_no}，请留意查收。"
        ),
        Template(
            "presale_promised",
            SERVICE,
            "【发货时间】您的订单{order_id}{promise}，最晚{ship_by}前发出，发货后会通知您运单号。",
        ),
        Template(
            "order_held_address",
            SERVICE,
            "【地址待确认】您的订单{order_id}收货地址不够详细，需与您确认后发货，请留意客服来电或在订单中补全地址。",
        ),
        Template(
            "shipment_exception",
            SERVICE,
            "【物流异常】您的订单{order_id}配送出现异常（{reason}），我们已联系快递公司处理，会尽快告知新的预计送达时间。",
        ),
        Template(
            "shipment_stalled",
            SERVICE,
            "【物流延迟】您的订单{order_id}的包裹运输暂时停滞，我们已催促快递公司，会尽快告知新的预计送达时间。",
        ),
        Template(
            "carrier_changed",
            SERVICE,
            "【物流变更】您的订单{order_id}已改由{carrier}配送，新运单号{tracking_no}（原{old_carrier}{old_tracking_no}已作废），请以新单号查询物流。",
        ),
        Template(
            "arrival_estimate_changed",
            SERVICE,
            "【送达时间更新】您的订单{order_id}的包裹预计{eta}送达{why}，给您带来不便敬请谅解。",
        ),
        Template(
            "refund_succeeded",
            SERVICE,
            "【退款成功】订单{order_id}的退款{amount_yuan}元已原路退回，预计1-3个工作日到账。",
        ),
        Template(
            "address_changed",
            SERVICE,
            "【地址已修改】您的订单{order_id}收货地址已改为{region}（收货人{name}，电话{phone}）{review}。如非本人操作请尽快联系客服。",
        ),
        Template(
            "invoice_issued",
            SERVICE,
            "【发票已开具】您的订单{order_id}的发票已开具，发票号码{invoice_no}，金额{amount_yuan}元，抬头{title}。",
        ),
        Template(
            "invoice_refused",
            SERVICE,
            "【发票申请未通过】您的订单{order_id}的开票申请未通过：{reason}。您可修改信息后重新申请。",
        ),
        Template("complaint_answered", SERVICE, "【投诉回复】您对订单{order_id}的投诉已有回复：{text}"),
        Template(
            "coupon_issued",
            MARKETING,
            "【优惠券到账】一张{issuer}优惠券已放入您的账户，下单时可用。回T退订",
        ),
        Template(
            "compensation_coupon",
            SERVICE,
            "【补偿券到账】针对您的投诉，店铺向您补偿一张{amount_yuan}元无门槛优惠券，已放入您的账户，下单时可用。",
        ),
        Template(
            "review_invitation",
            MARKETING,
            "【邀请评价】您的订单{order_id}已签收，期待您的评价！晒图评价送5元无门槛券。回T退订",
        ),
    )
}


def yuan(fen: int) -> str:
    """12.50 for 1250 fen."""
    return f"{fen // 100}.{fen % 100:02d}"


def local_time(at: datetime, utc_offset_hours: float) -> str:
    """`11月12日 18:00` in the buyers' local time (UTC+8 by default)."""
    local = at.astimezone(timezone(timedelta(hours=utc_offset_hours)))
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def parse_window(raw: str) -> tuple[time, time]:
    """`22:00-08:00` -> (22:00, 08:00); the window may wrap midnight."""
    start, sep, end = raw.partition("-")
    if not sep:
        raise ValueError(f"not a window HH:MM-HH:MM: {raw!r}")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def quiet_until(now: datetime, window: tuple[time, time] | None, utc_offset_hours: float) -> datetime | None:
    """When the quiet window around `now` ends (local time at `utc_offset_hours`), or None when
    `now` is outside it (or there is no window)."""
    if window is None:
        return None
    start, end = window
    if start == end:
        return None
    tz = timezone(timedelta(hours=utc_offset_hours))
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    wraps = start > end
    inside = (t >= start or t < end) if wraps else (start <= t < end)
    if not inside:
        return None
    end_at = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if end_at <= local:
        end_at += timedelta(days=1)
    return end_at.astimezone(now.tzinfo)


def backoff(attempts: int, base_seconds: float) -> timedelta:
    """The wait after the `attempts`-th failure: base, 2 x base, 4 x base, ... (capped at 1 h)."""
    return timedelta(seconds=min(base_seconds * 2 ** max(attempts - 1, 0), 3600))
