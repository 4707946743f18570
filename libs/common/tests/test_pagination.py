import base64
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecom_common.errors import BadRequest
from ecom_common.pagination import decode_cursor, encode_cursor, paginate


def seed(db, n):
    from inventory.models import StockItem

    now = db.config.clock.now()
    with db.Session() as s:
        for i in range(n):
            s.add(
                StockItem(
                    sku_code=f"SKU{i:03d}",
                    warehouse_code="WH1",
                    shop_id="S1",
                    on_hand=i,
                    reserved=0,
                    low_stock_threshold=1,
                    sellable=True,
                    created_at=now + timedelta(seconds=i % 3),
                    updated_at=now,
                )
            )
        s.commit()
    return StockItem


def test_keyset_pages_cover_everything_once(db):
    StockItem = seed(db, 23)
    seen, cursor = [], None
    with db.Session() as s:
        while True:
            page = paginate(
                s, sa.select(StockItem), [StockItem.created_at, StockItem.id], 5, cursor, to_item=lambda r: r.sku_code
            )
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


# Any JSON a client can base64 into a cursor: scalars of every type, nested lists and objects.
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**70)
    | st.floats()
    | st.text()
    | st.sampled_from(["2026-12-03T13:01:20+00:00", "SKU001", "\x00", "\ud800"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300, deadline=None)
@given(values=st.one_of(JSON, st.lists(JSON, min_size=1, max_size=2)))
def test_any_json_cursor_is_a_key_of_the_columns_types_or_a_400(db, values):
    from inventory.models import StockItem

    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    for columns in ([StockItem.id], [StockItem.sku_code], [StockItem.created_at, StockItem.id]):
        try:
            decoded = decode_cursor(cursor, columns)
        except BadRequest:
            continue
        # What gets through is what the driver binds for that column, on SQLite and PostgreSQL alike.
        assert len(decoded) == len(columns)
        for value, column in zip(decoded, columns, strict=False):
            assert type(value) is column.type.python_type
            if isinstance(value, int):
                assert -(2**63) <= value < 2**63
            if isinstance(value, str):
                assert "\x00" not in value
                value.encode()  # no lone surrogate
        with db.Session() as s:
            paginate(s, sa.select(StockItem), columns, 5, cursor)


@pytest.mark.parametrize("values", [[{"a": 1}], [[5]], [True], [1.5], ["5"], [2**64], [None], [5, 6], {"id": 5}])
def test_a_cursor_of_another_shape_is_a_400(db, values):
    from inventory.models import StockItem

    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    with pytest.raises(BadRequest):
        decode_cursor(cursor, [StockItem.id])
    with pytest.raises(BadRequest):
        decode_cursor("A" * 10_000, [StockItem.id])
