"""The merchant console in a real browser (Debian's Chromium, headless) over the real services
(RabbitMQ + PostgreSQL, each service on its own schema and bus namespace) with the console served
on a real port: people sign in and do their work through the pages, as they would.

Skips with the reason when the browser is missing (fails with CI=true): see
ecom_testkit/console_pages.py."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from ecom_testkit import Platform
from ecom_testkit.console_pages import ConsolePage, launch, require_browser
from ecom_testkit.console_support import PASSWORD
from ecom_testkit.saga import ADDRESS, ALL_SERVICES, Saga
from ecom_testkit.waiting import eventually
from ecom_testkit.world import SAGA_SETTINGS

pytestmark = pytest.mark.integration

STAFF = {
    "olivia": (["ops"], "S1"),
    "wang": (["warehouse"], "S1"),
    "cathy": (["cs"], "S1"),
    "fiona": (["finance"], "S1"),
    "rita": (["reviewer"], None),
}


@pytest.fixture(scope="module")
def world():
    """The services and the console, a listed product with stock, and the console's staff."""
    require_browser()
    from console import operations
    from console.settings import Settings
    from ecom_common.usecase import Actor, for_job

    with Platform([*ALL_SERVICES, "console"], settings=dict(SAGA_SETTINGS)) as p:
        saga = Saga(p)
        with for_job(p["console"].db, Settings, Actor("admin", ("admin",))) as ctx:
            for name, (roles, shop) in STAFF.items():
                operations.create_staff(ctx, name, roles=roles, shop_id=shop, password=PASSWORD)
        saga.product("CON-PHONE", stock=50)
        yield saga


@pytest.fixture(scope="module")
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = launch(pw)
        yield chromium
        chromium.close()


@pytest.fixture
def person(world, browser):
    """A fresh browser context per person (its own cookies), at 1280x800."""
    contexts = []

    def open_as(name: str | None = None) -> ConsolePage:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN", accept_downloads=True)
        contexts.append(context)
        console = ConsolePage(context.new_page(), world.p["console"].url)
        return console.sign_in(name, PASSWORD) if name else console

    yield open_as
    for context in contexts:
        context.close()


def held_order(saga: Saga, buyer: str = "bob") -> str:
    """A paid order that the audit holds for manual review (its note asks for something)."""
    order_id = saga.placed_and_paid("CON-PHONE", buyer=buyer, note="加急！请尽快发货")
    saga.wait_status(order_id, "on_hold")
    return order_id


def test_sign_in_shows_the_dashboard_in_chinese(person):
    from playwright.sync_api import expect

    console = person()
    console.open("/")
    expect(console.by("signin-form")).to_be_visible()
    console.by("signin-name").fill("olivia")
    console.by("signin-password").fill("not the password")
    console.by("signin-submit").click()
    expect(console.by("signin-error")).to_contain_text("账号或密码错误")
    console.sign_in("olivia", PASSWORD)
    expect(console.page.locator("h1")).to_have_text("工作台")
    expect(console.by("nav-orders")).to_have_text("订单")
    expect(console.by("nav-staff")).to_have_count(0)  # not an admin
    expect(console.by("todo-on_hold")).to_be_visible()
    # today's figures from analytics and the 7/30-day charts drawn as SVG by the console
    expect(console.by("kpi-paid_fen")).to_contain_text("支付金额")
    expect(console.by("chart-7").locator('[data-testid="chart-bar"]')).to_have_count(7)
    expect(console.by("chart-30").locator('[data-testid="chart-bar"]')).to_have_count(30)
    expect(console.by("todo-complaints_crisis")).to_contain_text("24 h")


def test_an_order_held_by_the_audit_is_approved_from_the_console(world, person):
    from playwright.sync_api import expect

    order_id = held_order(world)
    # the dashboard's deadline board (orders' GET /sla): its 30-minute review clock, time left shown
    console = person("olivia").open("/")
    deadline = console.row("deadline-row", kind="order.review", ref=order_id)
    expect(deadline.get_by_test_id("deadline-left")).to_contain_text("剩余")
    expect(deadline).not_to_have_class("breach")
    console.nav("order_review")
    row = console.row("held-row", order_id=order_id)
    expect(row).to_be_visible()
    row.get_by_test_id("held-select").check()
    console.by("held-approve-selected").click()
    expect(console.flash_success()).to_contain_text("已通过 1 / 1 个订单")
    # decided by orders' bulk review, answered per order
    expect(console.row("review-result", order_id=order_id).get_by_test_id("review-outcome")).to_contain_text("已完成")
    world.wait_status(order_id, "awaiting_shipment")
    console.open(f"/orders/{order_id}")
    expect(console.by("order-status")).to_have_text("待发货")
    expect(console.by("order-timeline").locator("tr")).not_to_have_count(1)


def test_three_orders_dispatched_in_bulk_and_their_waybills_printed(world, person):
    from playwright.sync_api import expect

    orders = [world.placed_and_paid("CON-PHONE", buyer="dora") for _ in range(3)]
    for order_id in orders:
        world.wait_status(order_id, "awaiting_shipment")
    shipments = [world.shipment_for(order_id)["shipment_id"] for order_id in orders]
    console = person("wang").nav("shipping")
    for sid in shipments:
        console.row("shipment-row", shipment_id=sid).get_by_test_id("ship-select").check()
    console.by("ship-dispatch-selected").click()
    expect(console.flash_success()).to_contain_text("已发货 3 / 3 个")
    # one call to logistics' bulk dispatch, answered per shipment
    for sid in shipments:
        expect(console.row("dispatch-result", shipment_id=sid).get_by_test_id("dispatch-outcome")).to_have_text(
            "已完成"
        )
    for order_id in orders:
        world.wait_status(order_id, "shipped")
    # the dispatched tab lists them; print the three waybills on one page
    console.open("/shipping?status=dispatched")
    for sid in shipments:
        console.row("shipment-row", shipment_id=sid).get_by_test_id("ship-select").check()
    with console.page.expect_popup() as popup:
        console.by("ship-print-selected").click()
    printed = ConsolePage(popup.value, console.base)
    expect(printed.by("waybill")).to_have_count(3)
    for sid in shipments:
        expect(printed.row("waybill", shipment_id=sid).get_by_test_id("waybill-tracking")).to_have_text(
            world.p["logistics"].get(f"/api/v1/shipments/{sid}", role="admin").json()["tracking_no"]
        )
    expect(printed.by("print")).to_be_visible()
    # logistics recorded each first printing: its time is on the waybill and on the list
    expect(printed.by("waybill-printed-at")).to_have_count(3)
    expect(printed.by("waybill-printed-at").first).to_contain_text("打印时间 20")
    console.open("/shipping?status=dispatched")
    expect(console.row("shipment-row", shipment_id=shipments[0]).get_by_test_id("ship-printed-at")).not_to_be_empty()
    # a failed pickup: the first parcel goes with another carrier and number
    console.row("shipment-row", shipment_id=shipments[0]).get_by_role("link").click()
    console.by("change-carrier-carrier").select_option("DBL")
    console.by("change-carrier-tracking").fill(f"DB{uuid.uuid4().hex[:10].upper()}")
    console.by("change-carrier-reason").fill("揽收失败")
    console.by("change-carrier").click()
    expect(console.flash_success()).to_contain_text("已更换快递公司")
    expect(console.by("shipment-carrier")).to_have_text("DBL")


def test_a_refund_case_is_approved_and_a_complaint_answered(world, person):
    from playwright.sync_api import expect

    order_id = world.placed_and_paid("CON-PHONE", buyer="erin")
    world.wait_status(order_id, "awaiting_shipment")
    case = world.ok(
        world["aftersales"].post(
            "/api/v1/cases",
            role="buyer",
            sub="erin",
            headers={"Idempotency-Key": uuid.uuid4().hex},
            json={
                "order_id": order_id,
                "type": "refund_only",
                "reason": "no_reason",
                "evidence": {"images": [], "text": "不要了"},
            },
        ),
        201,
    )
    complaint = world.ok(
        world["aftersales"].post(
            "/api/v1/complaints",
            role="buyer",
            sub="erin",
            headers={"Idempotency-Key": uuid.uuid4().hex},
            json={"order_id": order_id, "tier": "general", "text": "物流太慢"},
        ),
        201,
    )
    console = person("cathy").nav("cases")
    row = console.row("case-row", case_id=case["case_id"])
    expect(row).to_be_visible()
    row.get_by_test_id("case-approve").click()
    expect(console.flash_success()).to_contain_text(f"售后单 {case['case_id']} 已通过")
    eventually(
        lambda: (
            world["aftersales"].get(f"/api/v1/cases/{case['case_id']}", role="admin").json()["status"] != "requested"
        ),
        message="case approved",
    )
    # the buyer's complaint waits with its 2-hour clock on the complaints page; cs answers it
    console.nav("complaints").by("complaint-tab-general").click()
    row = console.row("complaint-row", complaint_id=complaint["complaint_id"])
    expect(row.get_by_test_id("complaint-left")).to_contain_text("剩余 1小时")
    row.get_by_test_id("complaint-text").fill("已催促快递，今日送达")
    row.get_by_test_id("complaint-respond").click()
    expect(console.flash_success()).to_contain_text(f"投诉 {complaint['complaint_id']} 已答复")
    expect(
        console.row("complaint-row", complaint_id=complaint["complaint_id"]).get_by_test_id("complaint-left")
    ).to_contain_text("已按时处理")


def test_finance_sees_no_action_buttons_and_a_forged_post_is_refused(world, person):
    from playwright.sync_api import expect

    order_id = held_order(world)
    console = person("fiona")
    expect(console.by("nav-shipping")).to_have_count(0)
    console.open(f"/orders/{order_id}")
    expect(console.by("order-status")).to_have_text("待审核")
    expect(console.by("order-approve")).to_have_count(0)
    expect(console.by("order-cancel")).to_have_count(0)
    # the form posted anyway, with finance's own session and CSRF token: the service refuses it
    answer = console.page.request.post(
        f"{console.base}/orders/{order_id}/review", form={"decision": "approve", "csrf_token": console.csrf_token()}
    )
    assert answer.ok  # the console answers with the page saying what happened
    assert "无权操作" in answer.text() and "403" in answer.text()
    assert world.order(order_id)["status"] == "on_hold"


def test_a_script_title_is_inert(world, person):
    from playwright.sync_api import expect

    title = "<script>alert(1)</script>手机"  # the catalog allows 30 characters
    body = {
        "category_id": "digital-phones",
        "title": title,
        "brand": "Acme",
        "description": "全新正品",
        "attributes": {"网络类型": "5G", "存储容量": ["128GB"]},
        "images": [{"url": "https://img.example/p.jpg", "width": 800, "height": 800}],
        "skus": [{"sku_code": "CON-XSS", "spec": {"存储容量": "128GB"}, "list_price_fen": 9900, "weight_g": 500}],
    }
    catalog = world["catalog"]
    product_id = world.ok(catalog.post("/api/v1/products", json=body, shop_id="S1"), 201)["product_id"]
    world.ok(catalog.post(f"/api/v1/products/{product_id}/submit", shop_id="S1"))
    dialogs = []
    console = person("rita")
    console.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    console.nav("product_review")
    row = console.row("review-row", product_id=product_id)
    expect(row.get_by_test_id("review-title")).to_have_text(title)
    expect(row.locator("script")).to_have_count(0)  # text, not an element
    assert dialogs == []  # nothing ran


def test_csv_export_holds_the_filtered_rows_and_the_filter_is_saved_and_keyboard_driven(world, person):
    from playwright.sync_api import expect

    buyer = f"csv{uuid.uuid4().hex[:6]}"
    mine = {world.placed_and_paid("CON-PHONE", buyer=buyer) for _ in range(2)}
    world.placed_and_paid("CON-PHONE", buyer="someone-else")
    console = person("olivia").nav("orders")
    console.by("filter-buyer").fill(buyer)
    console.by("filter-submit").click()
    expect(console.by("order-row")).to_have_count(2)
    # the search box takes the receiver phone's last four digits (尾号), with the buyer filter kept
    console.by("filter-q").fill(ADDRESS["phone"][-4:])
    console.by("filter-submit").click()
    tail = f"/orders/export.csv?buyer_id={buyer}&q={ADDRESS['phone'][-4:]}&by=auto"
    expect(console.by("export-csv")).to_have_attribute("href", tail)  # the table swapped by htmx
    expect(console.by("order-row")).to_have_count(2)
    with console.page.expect_download() as download:
        console.by("export-csv").click()
    raw = download.value.path().read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert {r["order_id"] for r in rows} == mine and {r["buyer_id"] for r in rows} == {buyer}
    # orders' own export streamed through: ops sees the receiver in full
    assert {r["receiver_phone"] for r in rows} == {ADDRESS["phone"]}
    console.by("filter-q").fill("")
    console.by("filter-submit").click()
    expect(console.by("export-csv")).to_have_attribute("href", f"/orders/export.csv?buyer_id={buyer}")
    expect(console.by("order-row")).to_have_count(2)
    # the filter saved under a name (olivia's own), applied again from the unfiltered list
    console.by("save-filter-name").fill(f"买家 {buyer}")
    console.by("save-filter").click()
    expect(console.flash_success()).to_contain_text(f"已保存筛选“买家 {buyer}”")
    console.nav("orders")
    saved = console.page.locator(f'[data-testid="saved-filter"][data-name="买家 {buyer}"]')
    saved.get_by_test_id("saved-filter-apply").click()
    expect(console.by("order-row")).to_have_count(2)
    expect(console.by("filter-buyer")).to_have_value(buyer)
    # the keyboard: "/" to the search box, j/k through the rows (Enter opens one), "?" the help
    console.page.locator("h1").click()
    console.page.keyboard.press("/")
    expect(console.by("filter-q")).to_be_focused()
    console.page.locator("h1").click()
    console.page.keyboard.press("j")
    console.page.keyboard.press("j")
    console.page.keyboard.press("k")
    first = console.by("order-row").first
    expect(first).to_have_attribute("aria-current", "true")
    first_id = first.get_attribute("data-order-id")
    console.page.keyboard.press("Enter")
    expect(console.page).to_have_url(f"{console.base}/orders/{first_id}")
    # the order's merchant notes and contact log, written by ops
    console.by("note-text-input").fill("买家要求周末送达")
    console.by("note-add").click()
    expect(console.flash_success()).to_contain_text("备注已添加")
    console.by("contact-outcome").select_option("verified")
    console.by("contact-note").fill("电话核实地址")
    console.by("contact-add").click()
    expect(console.flash_success()).to_contain_text("联系记录已添加")
    expect(console.by("note-row")).to_have_count(2)
    expect(console.page.locator('[data-testid="note-row"][data-kind="contact"]')).to_contain_text("已核实")
    console.page.wait_for_load_state()  # console.js (deferred) listens
    console.page.keyboard.press("?")
    expect(console.by("shortcuts")).to_be_visible()
    console.page.keyboard.press("Escape")
    expect(console.by("shortcuts")).to_be_hidden()
    console.nav("orders")
    console.page.locator(f'[data-testid="saved-filter"][data-name="买家 {buyer}"]').get_by_test_id(
        "saved-filter-delete"
    ).click()
    expect(console.flash_success()).to_contain_text("已删除筛选")


def test_a_product_is_created_with_live_findings_submitted_approved_and_listed(world, person):
    from playwright.sync_api import expect

    sku = f"CON-NEW-{uuid.uuid4().hex[:6]}"
    console = person("olivia").nav("products")
    console.by("product-new").click()
    expect(console.by("findings")).to_have_attribute("data-state", "idle")
    console.by("product-title").fill("全网第一 轻薄5G手机")
    # catalog's dry-run scan, asked while typing: the banned word is flagged
    expect(console.page.locator('[data-testid="finding"][data-rule="banned_word"]')).to_be_visible()
    console.by("product-title").fill("轻薄5G手机 新款")
    expect(console.page.locator('[data-testid="finding"][data-rule="banned_word"]')).to_have_count(0)
    console.by("product-brand").fill("Acme")
    console.by("product-description").fill("全新正品")
    console.by("attr-网络类型").select_option("5G")
    console.by("attr-存储容量-128GB").check()
    console.by("product-sku").fill(sku)
    console.by("product-price").fill("1999")
    console.by("product-weight").fill("500")
    console.by("product-image").fill("https://img.example/p.jpg")
    console.by("product-submit").click()
    expect(console.flash_success()).to_contain_text("已提交审核")
    row = console.page.locator('[data-testid="product-row"]', has_text="轻薄5G手机 新款")
    expect(row.get_by_test_id("product-status")).to_have_text("待审核")
    product_id = row.get_attribute("data-product-id")
    reviewer = person("rita").nav("product_review")
    reviewer.row("review-row", product_id=product_id).get_by_test_id("review-approve").click()
    expect(reviewer.flash_success()).to_contain_text(f"商品 {product_id} 已审核通过")
    console.nav("products")
    expect(console.row("product-row", product_id=product_id).get_by_test_id("product-status")).to_have_text("已上架")


def test_pages_load_without_console_errors(world, person):
    """htmx (from npm, /vendor/htmx.min.js), the stylesheet and the script load under the CSP: no
    refused or missing resource, no script error, on each page of the navigation."""
    from playwright.sync_api import expect

    console = person()
    errors: list[str] = []
    console.page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    console.page.on("pageerror", lambda e: errors.append(str(e)))
    console.sign_in("olivia", PASSWORD)
    for key in ("orders", "products", "order_review", "shipping", "cases", "complaints", "marketing", "dashboard"):
        console.nav(key)
        expect(console.by(f"nav-{key}")).to_have_class("active")
    assert console.page.evaluate("() => typeof window.htmx") == "object"
    assert errors == []


MAIN_PAGES = {
    "dashboard": ("olivia", "/"),
    "orders": ("olivia", "/orders"),
    "order-review": ("olivia", "/order-review"),
    "products": ("olivia", "/products"),
    "product-edit": ("olivia", "/products/new"),
    "product-review": ("rita", "/product-review"),
    "shipping": ("wang", "/shipping"),
    "cases": ("cathy", "/cases"),
    "complaints": ("cathy", "/complaints"),
    "marketing": ("olivia", "/marketing?tab=campaigns"),
    "stock": ("wang", "/stock"),
    "finance": ("fiona", "/finance?tab=ledger"),
}


def test_main_pages_render_in_chinese_at_1280x800(world, person, tmp_path):
    """Each main page at 1280x800, as a screenshot: into tmp_path, or into the folder that
    ECOM_CONSOLE_SCREENSHOTS names (`docs/console` to refresh the README's pictures)."""
    import os
    from pathlib import Path

    from playwright.sync_api import expect

    held_order(world)
    world.placed_and_paid("CON-PHONE", buyer="gina")
    # a campaign (no promotion: it would change the other journeys' prices) for the marketing page
    world.ok(
        world["marketing"].post(
            "/api/v1/campaigns",
            role="ops",
            shop_id="S1",
            headers={"Idempotency-Key": uuid.uuid4().hex},
            json={"name": "双12年终大促", "starts_at": "2026-12-10T00:00:00Z", "budget_fen": 5_000_000},
        ),
        201,
    )
    # a saved filter of olivia's for the order list
    from console import operations
    from console.settings import Settings
    from ecom_common.usecase import Actor, for_job

    with for_job(world.p["console"].db, Settings, Actor("olivia", ("ops",))) as ctx:
        olivia = next(a for a in operations.list_staff(ctx) if a.name == "olivia")
        operations.save_filter(ctx, olivia.id, "orders", "待发货 · bob", "tab=to_ship&buyer_id=bob")
    target = Path(os.environ.get("ECOM_CONSOLE_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    people: dict[str, ConsolePage] = {}
    for name, (who, path) in MAIN_PAGES.items():
        console = people.get(who) or people.setdefault(who, person(who))
        console.open(path)
        expect(console.by("nav")).to_be_visible()
        console.page.screenshot(path=str(target / f"{name}.png"), full_page=False)
    signin = person()
    signin.open("/signin")
    expect(signin.by("signin-form")).to_contain_text("登录")
    signin.page.screenshot(path=str(target / "signin.png"))
    # Chinese glyphs are drawn with a CJK font (not boxes): the stylesheet's first font is there
    assert people["olivia"].page.evaluate("() => document.fonts.check('16px \"WenQuanYi Micro Hei\"', '工作台')")
    assert sorted(p.name for p in target.glob("*.png")) == sorted(f"{n}.png" for n in [*MAIN_PAGES, "signin"])
