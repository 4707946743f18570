from console import domain


def test_buttons_follow_the_roles_the_services_admit():
    assert domain.can(["ops"], "order.review")
    assert not domain.can(["finance"], "order.review")
    assert not domain.can(["finance"], "shipment.dispatch")
    assert domain.can(["warehouse"], "shipment.dispatch")
    assert domain.can(["reviewer"], "product.review")
    assert not domain.can(["ops"], "no.such.action")


def test_navigation_by_role():
    keys = [item.key for item in domain.navigation(["finance"])]
    assert "orders" in keys and "staff" not in keys and "shipping" not in keys
    assert "staff" in [item.key for item in domain.navigation(["admin"])]


def test_staff_checks():
    assert domain.staff_errors("alice", ["ops"], "S1", "long enough pw") == {}
    assert "shop_id" in domain.staff_errors("alice", ["ops"], None, None)
    assert "roles" in domain.staff_errors("alice", ["buyer"], None, None)
    assert "name" in domain.staff_errors("a b", ["admin"], None, None)
    assert "password" in domain.staff_errors("alice", ["admin"], None, "short")
    assert domain.staff_errors("fiona", ["finance"], None, None) == {}  # platform finance


def test_formula_cells_are_neutralised():
    assert [domain.csv_cell(v) for v in ("=1+1", "+86", "-2", "@SUM(A1)", "张三", None, 12)] == [
        "'=1+1",
        "'+86",
        "'-2",
        "'@SUM(A1)",
        "张三",
        "",
        "12",
    ]


def test_throttle_and_money():
    assert not domain.throttled(4, 0, 5) and domain.throttled(5, 0, 5) and domain.throttled(0, 20, 5)
    assert domain.yuan(12345) == "123.45" and domain.yuan(-5) == "-0.05"
    assert domain.duration_parts(-3720) == (True, 1, 2)


def test_htmx_is_pinned_to_a_2x_release_in_one_place():
    import re
    from pathlib import Path

    from console.assets import HTMX_VERSION

    makefile = (Path(__file__).parents[3] / "Makefile").read_text()
    assert re.search(r"^HTMX_VERSION := (\S+)$", makefile, re.M).group(1) == HTMX_VERSION
    dockerfile = (Path(__file__).parents[3] / "deploy" / "Dockerfile").read_text()
    assert re.search(r"htmx\.org@(\S+)", dockerfile).group(1) == HTMX_VERSION
    assert HTMX_VERSION.startswith("2.")


def test_every_message_has_a_chinese_translation():
    from pathlib import Path

    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    root = Path(__file__).parents[1]
    method_map = [("console/**.py", "python"), ("console/templates/**.html", "jinja2")]
    used = {msg[2] for msg in extract_from_dir(str(root), method_map) if isinstance(msg[2], str)}
    with (root / "console/translations/zh/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh)
    missing = sorted(m for m in used if not (catalog.get(m) and catalog.get(m).string))
    assert missing == []
    assert all(catalog.get(label) and catalog.get(label).string for label in domain.LABELS.values())


def test_the_search_box_stands_for_one_orders_filter():
    assert domain.search_filter("O019a7c3e4f109b2e41c7") == ("order_id", "O019a7c3e4f109b2e41c7")
    assert domain.search_filter(" 5678 ") == ("phone", "5678")
    assert domain.search_filter("+86 138-1234-5678") == ("phone", "+86 138-1234-5678")
    assert domain.search_filter("１３８１２３４５６７８") == ("phone", "１３８１２３４５６７８")  # full-width digits
    assert domain.search_filter("张三") == ("receiver_name", "张三")
    assert domain.search_filter("SKU-1", "sku_code") == ("sku_code", "SKU-1")
    assert domain.search_filter("bob", "buyer_id") == ("buyer_id", "bob")
    assert domain.search_filter("bob", "nonsense") == ("order_id", "bob")  # unknown `by`: guessed
    assert domain.search_filter("12345") is None  # neither a tail of four nor a number
    assert domain.search_filter("  ") is None and domain.search_filter("x" * 65) is None


def test_deadlines_merge_the_services_boards_breaches_first():
    boards = {
        "orders": {
            "items": [
                {"kind": "order.review", "id": "O1", "due_at": "t1", "seconds_left": 600, "breached": False},
                {"kind": "order.payment", "id": "O2", "due_at": "t2", "seconds_left": -30, "breached": True},
            ]
        },
        "logistics": {
            "items": [{"kind": "dispatch", "id": "C1", "shipment_id": "H1", "seconds_left": 60, "breached": False}]
        },
        "aftersales": None,  # away: the others still show
    }
    items, breached = domain.deadlines(boards, limit=2)
    assert [(d.kind, d.ref) for d in items] == [("order.payment", "O2"), ("shipment.dispatch", "H1")]
    assert breached == 1 and items[0].label == "sla_order.payment"
    complaint = domain.Deadline("aftersales", "complaint.response", "K1", "", 5.0, False)
    assert complaint.label == "sla_complaint" and complaint.label in domain.LABELS
