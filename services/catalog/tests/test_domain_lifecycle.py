"""The product state machine, without a database: every legal move and every illegal one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from catalog import domain
from catalog.domain import DELETED, DELISTED, DRAFT, LISTED, PENDING, REJECTED, EditKind, ProductState
from catalog.settings import Settings
from ecom_common.errors import IllegalTransition, RuleViolation

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RULES = Settings()


def st(status, **kw):
    return ProductState(status, **kw)


def test_happy_path_draft_to_listed():
    t = domain.submit(st(DRAFT))
    assert (t.from_status, t.to_status) == (DRAFT, PENDING)
    t = domain.approve(st(PENDING))
    assert t.to_status == LISTED and t.changes["delist_reason"] is None


def test_rejected_is_fixed_and_submitted_again():
    t = domain.reject(st(PENDING), "主图有水印")
    assert t.to_status == REJECTED and t.reason == "主图有水印"
    assert domain.edit(st(REJECTED), EditKind(True, False)).to_status == REJECTED
    assert domain.submit(st(REJECTED)).to_status == PENDING


def test_reject_needs_a_reason():
    with pytest.raises(RuleViolation):
        domain.reject(st(PENDING), "  ")


def test_withdraw_returns_to_draft():
    assert domain.withdraw(st(PENDING)).to_status == DRAFT


@pytest.mark.parametrize("reason", ["seasonal", "out_of_stock"])
def test_seasonal_delist_can_be_relisted_directly(reason):
    t = domain.delist(st(LISTED), reason, "换季")
    assert t.to_status == DELISTED and t.changes == {"delist_reason": reason} and reason in t.reason
    assert domain.relist(st(DELISTED, delist_reason=reason)).to_status == LISTED


def test_violation_delist_needs_review_again():
    with pytest.raises(IllegalTransition) as exc:
        domain.relist(st(DELISTED, delist_reason="violation"))
    assert "violation" in exc.value.detail
    assert domain.submit(st(DELISTED, delist_reason="violation")).to_status == PENDING


def test_content_edited_while_delisted_needs_review_before_relisting():
    t = domain.edit(st(DELISTED, delist_reason="seasonal"), EditKind(content=True, commercial=False))
    assert t.to_status == DELISTED and t.changes == {"review_required": True}
    with pytest.raises(IllegalTransition):
        domain.relist(st(DELISTED, delist_reason="seasonal", review_required=True))


def test_unknown_delist_reason():
    with pytest.raises(RuleViolation):
        domain.delist(st(LISTED), "bored")


def test_content_edit_of_listed_product_goes_back_to_review():
    t = domain.edit(st(LISTED), EditKind(content=True, commercial=False))
    assert (t.from_status, t.to_status) == (LISTED, PENDING)
    assert domain.edit(st(LISTED), EditKind(content=False, commercial=True)).to_status == LISTED


def test_any_live_status_can_be_deleted_and_restored_within_30_days():
    for status in (DRAFT, PENDING, LISTED, REJECTED, DELISTED):
        t = domain.delete(st(status), NOW, "不卖了")
        assert t.to_status == DELETED and t.changes == {"deleted_at": NOW, "status_before_delete": status}
    deleted = st(DELETED, deleted_at=NOW, status_before_delete=LISTED)
    t = domain.restore(deleted, NOW + timedelta(days=30), RULES)
    assert t.to_status == DELISTED and t.changes["delist_reason"] == domain.RESTORED
    with pytest.raises(IllegalTransition):
        domain.restore(deleted, NOW + timedelta(days=30, seconds=1), RULES)


@pytest.mark.parametrize(
    "before,after", [(DRAFT, DRAFT), (PENDING, DRAFT), (REJECTED, REJECTED), (LISTED, DELISTED), (DELISTED, DELISTED)]
)
def test_restore_targets(before, after):
    t = domain.restore(st(DELETED, deleted_at=NOW, status_before_delete=before), NOW, RULES)
    assert t.to_status == after


def test_restoring_a_violation_keeps_it_a_violation():
    t = domain.restore(
        st(DELETED, deleted_at=NOW, status_before_delete=DELISTED, delist_reason="violation"), NOW, RULES
    )
    assert t.changes["delist_reason"] == "violation"


ILLEGAL = [
    ("submit", (PENDING, LISTED, DELETED)),
    ("withdraw", (DRAFT, LISTED, REJECTED, DELISTED, DELETED)),
    ("approve", (DRAFT, LISTED, REJECTED, DELISTED, DELETED)),
    ("reject", (DRAFT, LISTED, REJECTED, DELISTED, DELETED)),
    ("delist", (DRAFT, PENDING, REJECTED, DELISTED, DELETED)),
    ("relist", (DRAFT, PENDING, LISTED, REJECTED, DELETED)),
    ("delete", (DELETED,)),
    ("restore", (DRAFT, PENDING, LISTED, REJECTED, DELISTED)),
    ("edit", (PENDING, DELETED)),
]


@pytest.mark.parametrize("action,statuses", ILLEGAL)
def test_illegal_transitions_raise(action, statuses):
    calls = {
        "submit": lambda s: domain.submit(s),
        "withdraw": lambda s: domain.withdraw(s),
        "approve": lambda s: domain.approve(s),
        "reject": lambda s: domain.reject(s, "x"),
        "delist": lambda s: domain.delist(s, "seasonal"),
        "relist": lambda s: domain.relist(s),
        "delete": lambda s: domain.delete(s, NOW),
        "restore": lambda s: domain.restore(s, NOW, RULES),
        "edit": lambda s: domain.edit(s, EditKind(True, False)),
    }
    for status in statuses:
        with pytest.raises(IllegalTransition) as exc:
            calls[action](st(status, deleted_at=NOW if status == DELETED else None))
        assert exc.value.current == status and exc.value.action == action


def test_transition_table_covers_every_status():
    reachable = {s for allowed in domain.TRANSITIONS.values() for s in allowed}
    assert reachable == set(domain.STATUSES)


# Edit classification -----------------------------------------------------------------------------
BASE = {
    "title": "连衣裙",
    "description": "d",
    "images": [{"url": "a"}],
    "attributes": {"材质": "棉"},
    "category_id": "c",
    "brand": None,
    "video": None,
    "skus": [
        {
            "sku_code": "A",
            "spec": {"尺码": "S"},
            "barcode": None,
            "list_price_fen": 100,
            "promo_price_fen": None,
            "member_price_fen": None,
            "low_stock_threshold": 10,
            "weight_g": 1,
        }
    ],
}


def changed(**kw):
    import copy

    d = copy.deepcopy(BASE)
    for k, v in kw.items():
        if k.startswith("sku_"):
            d["skus"][0][k[4:]] = v
        else:
            d[k] = v
    return d


@pytest.mark.parametrize(
    "after,content,commercial",
    [
        (changed(title="新标题"), True, False),
        (changed(description="新描述"), True, False),
        (changed(images=[{"url": "b"}]), True, False),
        (changed(attributes={"材质": "麻"}), True, False),
        (changed(sku_spec={"尺码": "M"}), True, False),
        (changed(sku_list_price_fen=90), False, True),
        (changed(sku_promo_price_fen=80), False, True),
        (changed(sku_low_stock_threshold=3), False, True),
        (changed(), False, False),
    ],
)
def test_classify_edit(after, content, commercial):
    assert domain.classify_edit(BASE, after) == EditKind(content, commercial)


def test_adding_a_sku_is_a_content_change():
    after = changed()
    after["skus"].append({**after["skus"][0], "sku_code": "B"})
    assert domain.classify_edit(BASE, after).content


def test_review_due_is_24h_after_submission_and_overdue_after():
    due = domain.review_due(NOW, RULES)
    assert due == NOW + timedelta(hours=24)
    assert not domain.is_overdue(due, due) and domain.is_overdue(due, due + timedelta(seconds=1))
    assert domain.review_due(NOW, Settings(review_due_hours=1)) == NOW + timedelta(hours=1)
