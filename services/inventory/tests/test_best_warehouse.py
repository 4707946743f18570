"""自动匹配最优仓库 through the OrderPaid handler (SQLite): the order is reserved in the one warehouse
nearest the receiver that can serve every line, split only when none can; inactive warehouses serve
nothing; waiting orders are served the same way when stock arrives."""

import sqlalchemy as sa

from ecom_common.usecase import Actor, for_job
from inventory import warehouses
from inventory.models import ReservationLine
from inventory.settings import Settings

SHOP = "S1"


def register(db, code, province, costs=None, active=True):
    with for_job(db, Settings, actor=Actor("test")) as ctx:
        spec = warehouses.WarehouseSpec(name=code, province=province, costs=costs or {}, active=active)
        warehouses.create_warehouse(ctx, SHOP, code, spec)


def paid(deliver, order_id, lines, province):
    payload = {
        "order_id": order_id,
        "shop_id": SHOP,
        "payable_fen": 1000,
        "paid_at": "2026-11-01T08:00:00Z",
        "lines": [{"sku_code": s, "quantity": q} for s, q in lines],
        "receiver_province": province,
    }
    deliver("orders.OrderPaid", payload)


def reserved_in(db, order_id):
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(ReservationLine.sku_code, ReservationLine.warehouse_code).where(
                ReservationLine.order_id == order_id
            )
        ).all()
    return dict(rows)


def test_the_nearest_warehouse_that_can_serve_the_whole_order(db, deliver, list_sku, receive, events):
    register(db, "BJ", "北京")
    register(db, "HZ", "浙江省")
    register(db, "SH", "上海")
    list_sku("A", "B")
    for wh in ("BJ", "HZ", "SH"):
        receive("A", 5, warehouse_code=wh)
    receive("B", 5, warehouse_code="BJ")
    receive("B", 5, warehouse_code="SH")
    paid(deliver, "O1", [("A", 1), ("B", 1)], "浙江")  # HZ lacks B: SH, same region, serves both
    assert reserved_in(db, "O1") == {"A": "SH", "B": "SH"}
    paid(deliver, "O2", [("A", 1)], "浙江")
    assert reserved_in(db, "O2") == {"A": "HZ"}
    paid(deliver, "O3", [("A", 1), ("B", 1)], "天津")
    assert reserved_in(db, "O3") == {"A": "BJ", "B": "BJ"}
    lines = {e["order_id"]: e["lines"] for e in events("inventory.StockReserved")}
    assert lines["O3"] == [
        {"sku_code": "A", "quantity": 1, "warehouse_code": "BJ"},
        {"sku_code": "B", "quantity": 1, "warehouse_code": "BJ"},
    ]


def test_cost_decides_between_warehouses_at_the_same_distance(db, deliver, list_sku, receive):
    register(db, "GZ", "广东", {"*": 900})
    register(db, "CD", "四川", {"新疆": 600, "*": 1500})
    list_sku("A")
    receive("A", 5, warehouse_code="GZ")
    receive("A", 5, warehouse_code="CD")
    paid(deliver, "O1", [("A", 1)], "新疆维吾尔自治区")
    assert reserved_in(db, "O1") == {"A": "CD"}
    paid(deliver, "O2", [("A", 1)], "黑龙江")
    assert reserved_in(db, "O2") == {"A": "GZ"}


def test_split_only_when_no_single_warehouse_can_serve(db, deliver, list_sku, receive, stock, ledger_matches_stock):
    register(db, "HZ", "浙江")
    register(db, "GZ", "广东")
    list_sku("A", "B")
    receive("A", 2, warehouse_code="HZ")
    receive("B", 2, warehouse_code="GZ")
    paid(deliver, "O1", [("A", 1), ("B", 1)], "浙江")
    assert reserved_in(db, "O1") == {"A": "HZ", "B": "GZ"}
    assert stock("A", warehouse_code="HZ") == (2, 1) and stock("B", warehouse_code="GZ") == (2, 1)
    assert ledger_matches_stock()


def test_an_inactive_warehouse_serves_nothing(db, deliver, list_sku, receive, events):
    register(db, "HZ", "浙江", active=False)
    list_sku("A")
    receive("A", 5, warehouse_code="HZ")
    receive("A", 1)  # WH1, unregistered: a warehouse of unknown place
    paid(deliver, "O1", [("A", 1)], "浙江")
    assert reserved_in(db, "O1") == {"A": "WH1"}
    paid(deliver, "O2", [("A", 1)], "浙江")  # HZ's 5 units are not offered
    assert [e["order_id"] for e in events("inventory.StockShortage")] == ["O2"]


def test_a_waiting_order_keeps_its_receivers_province_for_when_stock_arrives(db, deliver, list_sku, receive):
    register(db, "BJ", "北京")
    register(db, "GZ", "广东")
    list_sku("A", "B")
    receive("A", 5, warehouse_code="BJ")
    receive("A", 5, warehouse_code="GZ")
    paid(deliver, "O1", [("A", 2), ("B", 1)], "海南")  # no B anywhere: waits
    with db.engine.connect() as conn:
        province = conn.execute(
            sa.text("SELECT receiver_province FROM reservations WHERE order_id = 'O1'")
        ).scalar_one()
    assert province == "海南"
    receive("B", 1, warehouse_code="BJ")  # BJ alone can now serve the whole order
    assert reserved_in(db, "O1") == {"A": "BJ", "B": "BJ"}
