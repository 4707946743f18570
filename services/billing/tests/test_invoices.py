"""Invoices (发票): the title rules, the buyer's request, finance's decision, events, roles, scoping."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from billing import invoicing
from billing.models import Invoice
from ecom_testkit import auth

USCC = "91350100M000100Y43"  # a well-formed unified social credit code (the sample GB 32100 readers cite)
COMPANY = {"title_type": "company", "title": "杭州某某科技有限公司", "tax_number": USCC}
PERSONAL = {"title_type": "personal", "title": "个人"}


def request(billing, body, buyer="bob", order_id="O1", headers=None):
    return billing.client.post(
        "/api/v1/invoices", json={"order_id": order_id, **body}, headers={**auth("buyer", sub=buyer), **(headers or {})}
    )


def decide(billing, invoice_id, action, body, role="finance", sub="fiona", shop_id="S1"):
    return billing.client.post(
        f"/api/v1/invoices/{invoice_id}/{action}", json=body, headers=auth(role, sub=sub, shop_id=shop_id)
    )


def invoices(billing):
    with billing.db.Session() as s:
        return s.execute(sa.select(Invoice).order_by(Invoice.requested_at)).scalars().all()


# The rules -------------------------------------------------------------------------------------
def test_a_unified_social_credit_code_is_checked_by_its_18th_character():
    assert invoicing.tax_number_problem(USCC) is None
    assert invoicing.uscc_check_char(USCC[:17]) == USCC[17]
    wrong = USCC[:17] + ("0" if USCC[17] != "0" else "1")
    assert "check character" in invoicing.tax_number_problem(wrong)
    assert invoicing.tax_number_problem("91350100M000100I43") is not None  # I is not in the alphabet
    assert invoicing.tax_number_problem(USCC.lower()) is not None


@pytest.mark.parametrize("number", ["110108123456789", "11010819800101123X01"])
def test_older_tax_numbers_of_15_and_20_characters_are_accepted(number):
    assert invoicing.tax_number_problem(number) is None


@pytest.mark.parametrize("number", ["", "1234", "9135010", "1101081234567890", "11010812345678a"])
def test_other_lengths_and_characters_are_refused(number):
    assert invoicing.tax_number_problem(number) is not None


def test_a_company_needs_a_tax_number_and_a_personal_title_takes_none():
    assert "tax_number" in invoicing.InvoiceTitle("company", "某公司").problems()
    assert "tax_number" in invoicing.InvoiceTitle("personal", "个人", USCC).problems()
    assert invoicing.InvoiceTitle("personal", "个人").problems() == {}
    assert invoicing.InvoiceTitle("company", "某公司", USCC).problems() == {}


def test_the_amount_is_paid_less_refunds_and_nothing_left_is_refused():
    assert invoicing.invoice_amount(10_000, 3_000) == 7_000
    with pytest.raises(invoicing.NothingToInvoiceError):
        invoicing.invoice_amount(10_000, 10_000)
    with pytest.raises(invoicing.NothingToInvoiceError):
        invoicing.invoice_amount(0, 0)


# The buyer's request ----------------------------------------------------------------------------
def test_a_buyer_requests_an_invoice_on_a_paid_order_once(billing):
    billing.paid()
    r = request(billing, COMPANY)
    assert r.status_code == 201, r.get_json()
    inv = r.get_json()
    assert inv["status"] == "requested" and inv["tax_number"] == USCC and inv["shop_id"] == "S1"
    assert inv["buyer_id"] == "bob" and inv["amount_fen"] is None
    again = request(billing, COMPANY)  # the same request again: that request, nothing new
    assert again.status_code == 200 and again.get_json()["invoice_id"] == inv["invoice_id"]
    other = request(billing, PERSONAL)  # another title while one is open: a conflict
    assert other.status_code == 409 and other.mimetype == "application/problem+json"
    assert len(invoices(billing)) == 1


def test_a_personal_title_needs_no_tax_number(billing):
    billing.paid()
    r = request(billing, PERSONAL)
    assert r.status_code == 201 and r.get_json()["tax_number"] is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({**COMPANY, "tax_number": USCC[:17] + "0"}, "tax_number"),
        ({**COMPANY, "tax_number": "123"}, "tax_number"),
        ({"title_type": "company", "title": "某公司"}, "tax_number"),
        ({**PERSONAL, "tax_number": USCC}, "tax_number"),
        ({**PERSONAL, "title": ""}, "title"),
        ({**PERSONAL, "title": "x" * 101}, "title"),
        ({**PERSONAL, "title_type": "vat"}, "title_type"),
    ],
)
def test_a_bad_title_is_a_422_and_nothing_is_written(billing, body, field):
    billing.paid()
    r = request(billing, body)
    assert r.status_code == 422 and r.mimetype == "application/problem+json", r.get_json()
    assert field in r.get_json()["errors"]
    assert invoices(billing) == []


def test_an_unpaid_order_has_nothing_to_invoice(billing):
    billing.placed()
    r = request(billing, PERSONAL)
    assert r.status_code == 409 and invoices(billing) == []


def test_another_buyers_order_and_an_unknown_order_are_404(billing):
    billing.paid()
    assert request(billing, PERSONAL, buyer="eve").status_code == 404
    assert request(billing, PERSONAL, order_id="NOPE").status_code == 404
    assert invoices(billing) == []


def test_only_a_buyer_requests(billing):
    billing.paid()
    r = billing.client.post("/api/v1/invoices", json={"order_id": "O1", **PERSONAL}, headers=auth("finance", sub="f"))
    assert r.status_code == 403


def test_an_idempotency_key_replays_the_first_answer(billing):
    billing.paid()
    first = request(billing, COMPANY, headers={"Idempotency-Key": "k1"})
    replay = request(billing, COMPANY, headers={"Idempotency-Key": "k1"})
    assert first.status_code == replay.status_code == 201
    assert replay.get_json()["invoice_id"] == first.get_json()["invoice_id"]
    assert request(billing, PERSONAL, headers={"Idempotency-Key": "k1"}).status_code == 409  # another body
    assert len(invoices(billing)) == 1


# Finance's decision -----------------------------------------------------------------------------
def test_finance_issues_for_what_was_paid_less_refunds_and_the_buyer_is_told(billing):
    billing.paid()
    billing.event(
        "aftersales.RefundApproved", {"case_id": "C1", "order_id": "O1", "shop_id": "S1", "amount_fen": 2_500}
    )
    inv = request(billing, COMPANY).get_json()
    r = decide(billing, inv["invoice_id"], "issue", {"invoice_no": "12345678"})
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert out["status"] == "issued" and out["amount_fen"] == 7_500 and out["invoice_no"] == "12345678"
    assert out["decided_by"] == "fiona" and out["decided_at"]
    [event] = billing.events("billing.InvoiceIssued")
    assert event["payload"] == {
        "order_id": "O1",
        "shop_id": "S1",
        "invoice_id": inv["invoice_id"],
        "buyer_id": "bob",
        "invoice_no": "12345678",
        "amount_fen": 7_500,
        "title_type": "company",
        "title": COMPANY["title"],
        "issued_at": out["decided_at"],
    }
    # the same number again: unchanged, no second event; another number or a refusal: 409
    assert decide(billing, inv["invoice_id"], "issue", {"invoice_no": "12345678"}).status_code == 200
    assert decide(billing, inv["invoice_id"], "issue", {"invoice_no": "87654321"}).status_code == 409
    assert decide(billing, inv["invoice_id"], "refuse", {"reason": "late"}).status_code == 409
    assert len(billing.events("billing.InvoiceIssued")) == 1 and billing.events("billing.InvoiceRefused") == []
    # issued: the order has its invoice, a new request is a conflict
    assert request(billing, PERSONAL).status_code == 409


def test_finance_refuses_with_a_reason_and_the_buyer_may_ask_again(billing):
    billing.paid()
    inv = request(billing, COMPANY).get_json()
    r = decide(billing, inv["invoice_id"], "refuse", {"reason": "抬头与税号不符"})
    assert r.status_code == 200 and r.get_json()["status"] == "refused"
    assert r.get_json()["refused_reason"] == "抬头与税号不符"
    assert decide(billing, inv["invoice_id"], "refuse", {"reason": "抬头与税号不符"}).status_code == 200
    assert decide(billing, inv["invoice_id"], "issue", {"invoice_no": "12345678"}).status_code == 409
    [event] = billing.events("billing.InvoiceRefused")
    assert event["payload"]["reason"] == "抬头与税号不符" and event["payload"]["buyer_id"] == "bob"
    assert request(billing, PERSONAL).status_code == 201


def test_an_invoice_number_is_used_once(billing):
    billing.paid("O1")
    billing.paid("O2")
    a = request(billing, PERSONAL, order_id="O1").get_json()
    b = request(billing, PERSONAL, order_id="O2").get_json()
    assert decide(billing, a["invoice_id"], "issue", {"invoice_no": "12345678"}).status_code == 200
    r = decide(billing, b["invoice_id"], "issue", {"invoice_no": "12345678"})
    assert r.status_code == 409 and "invoice_no" in r.get_json()["errors"]


def test_an_order_refunded_in_full_before_issue_is_not_invoiced(billing):
    billing.paid()
    inv = request(billing, PERSONAL).get_json()
    billing.event("orders.OrderCancelled", {"order_id": "O1", "shop_id": "S1", "was_paid": True})
    r = decide(billing, inv["invoice_id"], "issue", {"invoice_no": "12345678"})
    assert r.status_code == 409
    assert billing.events("billing.InvoiceIssued") == []


@pytest.mark.parametrize("body", [{"invoice_no": "1234"}, {"invoice_no": "abcdefgh"}, {}, {"invoice_no": 12345678}])
def test_a_bad_invoice_number_is_a_422(billing, body):
    billing.paid()
    inv = request(billing, PERSONAL).get_json()
    r = decide(billing, inv["invoice_id"], "issue", body)
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert invoices(billing)[0].status == "requested"


def test_deciding_is_finance_of_the_shop(billing):
    billing.paid()
    inv = request(billing, PERSONAL).get_json()
    iid = inv["invoice_id"]
    assert decide(billing, iid, "issue", {"invoice_no": "12345678"}, shop_id="S2").status_code == 404
    assert decide(billing, iid, "refuse", {"reason": "x"}, role="ops", sub="o").status_code == 403
    assert decide(billing, iid, "refuse", {"reason": "x"}, role="buyer", sub="bob", shop_id=None).status_code == 403
    assert decide(billing, "IV-nope", "refuse", {"reason": "x"}).status_code == 404
    assert invoices(billing)[0].status == "requested"
    # finance without a shop (platform) decides for every shop
    assert decide(billing, iid, "issue", {"invoice_no": "12345678"}, shop_id=None).status_code == 200


# The list ---------------------------------------------------------------------------------------
def test_the_list_is_scoped_filtered_and_paginated(billing):
    billing.paid("O1", shop_id="S1", buyer_id="bob")
    billing.paid("O2", shop_id="S2", buyer_id="eve")
    billing.paid("O3", shop_id="S1", buyer_id="bob")
    a = request(billing, PERSONAL, order_id="O1").get_json()
    request(billing, PERSONAL, order_id="O2", buyer="eve")
    request(billing, COMPANY, order_id="O3")
    decide(billing, a["invoice_id"], "refuse", {"reason": "x"})

    def ids(resp):
        assert resp.status_code == 200, resp.get_json()
        return sorted(i["order_id"] for i in resp.get_json()["items"])

    assert ids(billing.get("/api/v1/invoices", role="buyer", sub="bob")) == ["O1", "O3"]
    assert ids(billing.get("/api/v1/invoices", role="buyer", sub="eve")) == ["O2"]
    assert ids(billing.get("/api/v1/invoices", shop_id="S1")) == ["O1", "O3"]
    assert ids(billing.get("/api/v1/invoices", role="admin", sub="root")) == ["O1", "O2", "O3"]
    assert ids(billing.get("/api/v1/invoices?status=refused", role="admin", sub="root")) == ["O1"]
    assert ids(billing.get("/api/v1/invoices?title_type=company", role="admin", sub="root")) == ["O3"]
    assert billing.get("/api/v1/invoices?shop_id=S2", shop_id="S1").status_code == 404
    assert billing.get("/api/v1/invoices", role="ops", sub="o").status_code == 403  # staff without a shop
    assert billing.get("/api/v1/invoices?status=lost", role="admin", sub="root").status_code == 422
    first = billing.get("/api/v1/invoices?limit=2", role="admin", sub="root").get_json()
    rest = billing.get(f"/api/v1/invoices?limit=2&cursor={first['next_cursor']}", role="admin", sub="root").get_json()
    assert len(first["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
