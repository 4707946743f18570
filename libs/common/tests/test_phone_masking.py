"""Phone masking (ecom_common.privacy): every spelling of a mainland mobile number is masked as
138****5678 in free text; numbers that are not phones (order ids, tracking numbers, dates, times,
money) are left as they are."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ecom_common.privacy import mask_phone, scrub

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
TO_ASCII = str.maketrans("０１２３４５６７８９", "0123456789")
PREFIXES = ["", "+86", "86", "0086", "＋８６", "００８６"]
SEPARATORS = ["", " ", "-", ".", "\u3000", "－", "．"]

# Text around a phone: anything but a digit of any script (a digit touching the number makes it part
# of a longer one, which by the boundary rule is not a phone).
TEXT = st.text(st.characters(blacklist_categories=("Nd", "Cs")), max_size=12)


@st.composite
def mobiles(draw) -> tuple[str, str]:
    """(the 11 ASCII digits, a spelling of them: prefix, separators, full-width digits mixed)."""
    digits = "1" + draw(st.sampled_from("3456789")) + draw(st.text("0123456789", min_size=9, max_size=9))
    spelled = draw(st.sampled_from(PREFIXES))
    if spelled:
        spelled += draw(st.sampled_from(SEPARATORS))
    for i, digit in enumerate(digits):
        if i:
            spelled += draw(st.sampled_from(SEPARATORS))
        spelled += digit.translate(FULL_WIDTH) if draw(st.booleans()) else digit
    return digits, spelled


def digits_of(text: str) -> str:
    return "".join(re.findall("[0-9]", text.translate(TO_ASCII)))


@given(phones=st.lists(mobiles(), min_size=1, max_size=3), around=st.data())
def test_every_spelling_of_a_mobile_in_text_is_masked(phones, around):
    chunks = [around.draw(TEXT)]
    for _digits, spelled in phones:
        # Two phones need something between them, or they are one long number.
        chunks += [spelled, around.draw(TEXT.filter(bool))]
    out = scrub("".join(chunks))
    for digits, _spelled in phones:
        assert f"{digits[:3]}****{digits[-4:]}" in out
    # Nothing else of any phone survives: not its 11 digits, not its middle four, not a prefix.
    assert digits_of(out) == "".join(d[:3] + d[-4:] for d, _ in phones)


@given(phone=mobiles())
def test_a_phone_field_in_any_spelling_is_masked_the_same_way(phone):
    digits, spelled = phone
    assert mask_phone(spelled) == f"{digits[:3]}****{digits[-4:]}"


@pytest.mark.parametrize(
    "text,masked",
    [
        ("+8613987651236", "139****1236"),
        ("86 13987651236", "139****1236"),
        ("+86-139-8765-1236", "139****1236"),
        ("139-8765-1235", "139****1235"),
        ("139 8765 1234", "139****1234"),
        ("１３９８７６５１２３４", "139****1234"),
        ("电话：０086 139.8765 1234，谢谢", "电话：139****1234，谢谢"),
        ("x2 13987651236", "x2 139****1236"),  # a separator ends the number before: still a phone
    ],
)
def test_the_spellings_from_the_issue(text, masked):
    assert scrub(text) == masked


# Not phones ---------------------------------------------------------------------------------------------
@given(run=st.text("0123456789", min_size=12, max_size=30))
def test_a_longer_digit_run_is_not_a_phone(run):
    # 13 or 15 digits may be +86/0086 glued to a phone (8613987651236): those are phones.
    assume(not re.fullmatch(r"(86|0086)1[3-9]\d{9}", run))
    text = f"运单号 SF{run} 已揽收"
    assert scrub(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "order O2026120313012012345678 paid",
        "tracking SF1398765123612345678",  # 19 digits that begin like a phone
        "9913987651236",
        "2026-12-03 13:01:20, 2026.12.03, 20261203130120",
        "¥13,987,651.23 and 1398765.00 fen",
        "bank card 6222 1398 7651 2360",
    ],
)
def test_ids_dates_times_and_money_are_left_alone(text):
    assert scrub(text) == text


def test_a_landline_keeps_its_first_three_and_last_four():
    assert mask_phone("0571-88881234") == "057******1234"
