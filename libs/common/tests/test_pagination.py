from datetime import timedelta

import pytest
import sqlalchemy as sa

from ecom_common.errors import BadRequest
from ecom_common.http import decode_cursor, encode_cursor, paginate


def seed(db, n):
    from inventory.models import StockItem

    now = db.config.clock.now()
    with db.Session() as s:
        for i in range(n):
            s.add(StockItem(sku_code=f"SKU{i:03d}", warehouse_code="WH1", shop_id="S1", on_hand=i, reserved=0,
                            low_stock_threshold=1, sellable=True, created_at=now + timedelta(seconds=i % 3),
                            updated_at=now))
        s.commit()
    return StockItem


def test_keyset_pages_cover_everything_once(db):
    StockItem = seed(db, 23)
    seen, cursor = [], None
    with db.Session() as s:
        while True:
            page = paginate(s, sa.select(StockItem), [StockItem.created_at, StockItem.id], 5, cursor,
                            to_item=lambda r: r.sku_code)
            seen += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                break
    assert sorted(seen) == [f"SKU{i:03d}" for i in range(23)] and len(seen) == 23


def test_bad_cursor_is_a_400(db):
    StockItem = seed(db, 1)
    with pytest.raises(BadRequest):
        decode_cursor("!!!", [StockItem.id])
    assert decode_cursor(encode_cursor([5]), [StockItem.id]) == [5]
