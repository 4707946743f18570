"""CSV exports of the shipment list and the exception queue (`?format=csv` on those lists, with
the same filters): streamed through ecom_common.csvexport, read `yield_per` rows at a time, never
the whole list in memory. The receiver's phone is a phone column; logistics only ever holds it
masked (隐私面单), so no role gets more from logistics than the masked number."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from flask import Response

from ecom_common.csvexport import Column, column_rows, csv_response, headers
from ecom_common.usecase import use_case

from ..settings import Settings

BATCH = 500


def _receiver(key: str) -> Callable[[dict[str, Any]], object]:
    return lambda row: (row.get("receiver") or {}).get(key)


def _items(row: dict[str, Any]) -> str:
    return "; ".join(
        f"{line['sku_code']} x{line['quantity']}{' (gift)' if line.get('gift') else ''}" for line in row["pick_list"]
    )


def _col(name: str) -> Column:
    return Column(name, lambda row: row.get(name))


SHIPMENT_COLUMNS = [
    *map(_col, ("shipment_id", "order_id", "shop_id", "case_id", "status", "carrier", "tracking_no")),
    Column("receiver_name", _receiver("name")),
    Column("receiver_phone", _receiver("phone"), phone=True),
    Column("province", _receiver("province")),
    Column("city", _receiver("city")),
    Column("items", _items),
    *map(
        _col,
        (
            "weight_g",
            "priority",
            "promotion",
            "paid_at",
            "created_at",
            "dispatch_due_at",
            "overdue",
            "printed_at",
            "dispatched_at",
            "dispatched_late",
            "picked_up_at",
            "pickup_late",
            "delivered_at",
            "cancelled_at",
            "estimated_arrival_at",
            "exception_open",
            "exception_kind",
            "exception_reason",
            "carrier_cost_fen",
        ),
    ),
]

EXCEPTION_COLUMNS = [
    *map(_col, ("shipment_id", "order_id", "shop_id", "status", "carrier", "tracking_no")),
    *map(_col, ("exception_kind", "exception_reason", "exception_since", "time_in_exception_s")),
    *map(_col, ("estimated_arrival_at", "last_progress_at", "dispatched_at", "picked_up_at")),
    Column("receiver_name", _receiver("name")),
    Column("receiver_phone", _receiver("phone"), phone=True),
    Column("province", _receiver("province")),
]


def export(filename: str, columns: list[Column], query: Callable[[datetime], Any], render: Callable) -> Response:
    """Stream `query(now)`'s shipments as CSV, each rendered by `render(shipment, now)`: the unit of
    work is opened when the body starts and closed when it ends."""

    def rows() -> Iterator[dict[str, Any]]:
        with use_case(Settings) as ctx:
            result = ctx.session.execute(query(ctx.now).execution_options(yield_per=BATCH))
            for s in result.scalars():
                yield render(s, ctx.now)

    return csv_response(filename, headers(columns), column_rows(columns, rows()))
