"""Invoice rules (发票): the buyer's title and tax number, the request's state machine, and the
amount an issued invoice carries. Pure, `mypy --strict`; no Flask, no SQL.

Tax numbers (纳税人识别号):
- 18 characters: the unified social credit code (统一社会信用代码, GB 32100-2015). Digits and the
  capital letters other than I, O, Z, S and V; the 18th character is a check character over the
  first 17 (weights 3^i mod 31, check = (31 - sum mod 31) mod 31).
- 15 or 20 characters: the older taxpayer numbers still printed on invoices (15: region code and
  organisation code; 20: an individual business's identity card number and a 2-digit suffix):
  digits and capital letters, no check character to verify.
A personal title (个人) takes no tax number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ecom_common.errors import ConflictError, IllegalTransition, RuleViolation

INVOICE_ID = "IV"
TITLE_TYPES = ("company", "personal")
TITLE_MAX = 100
REASON_MAX = 300

# GB 32100-2015: the 31 characters of a unified social credit code, in the order of their values.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# The shapes, as the API's schema states them (the check character is tax_number_problem's).
TAX_NUMBER_PATTERN = r"^([0-9A-Z]{15}|[0-9A-HJ-NPQRTUWXY]{18}|[0-9A-Z]{20})$"
# 发票号码: 8 digits (paper and older e-invoices) or 20 digits (全电发票).
INVOICE_NO_PATTERN = r"^([0-9]{8}|[0-9]{20})$"
_OLD_TAX_NUMBER = re.compile(r"^[0-9A-Z]{15}$|^[0-9A-Z]{20}$")
_INVOICE_NO = re.compile(INVOICE_NO_PATTERN)


def uscc_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 are `first17`."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def tax_number_problem(tax_number: str) -> str | None:
    """None if `tax_number` is a well-formed tax number (module doc), else why not."""
    if len(tax_number) == 18:
        if any(c not in USCC_ALPHABET for c in tax_number):
            return "a unified social credit code uses digits and capitals other than I, O, Z, S, V"
        if uscc_check_char(tax_number[:17]) != tax_number[17]:
            return "the check character (18th) of this unified social credit code is wrong"
        return None
    if len(tax_number) in (15, 20):
        return None if _OLD_TAX_NUMBER.match(tax_number) else "digits and capital letters only"
    return "18 characters (unified social credit code), or 15 or 20 for older tax numbers"


def invoice_no_problem(invoice_no: str) -> str | None:
    return None if _INVOICE_NO.match(invoice_no) else "8 or 20 digits"


@dataclass(frozen=True)
class InvoiceTitle:
    """Who the invoice is made out to."""

    title_type: str
    title: str
    tax_number: str | None = None

    def problems(self) -> dict[str, list[str]]:
        """Field -> messages (empty: a valid title)."""
        out: dict[str, list[str]] = {}
        if self.title_type not in TITLE_TYPES:
            out["title_type"] = [f"one of {', '.join(TITLE_TYPES)}"]
        if not self.title.strip() or len(self.title) > TITLE_MAX:
            out["title"] = [f"1 to {TITLE_MAX} characters"]
        if self.title_type == "company":
            if not self.tax_number:
                out["tax_number"] = ["a company title needs its tax number"]
            elif why := tax_number_problem(self.tax_number):
                out["tax_number"] = [why]
        elif self.title_type == "personal" and self.tax_number:
            out["tax_number"] = ["a personal title takes no tax number"]
        return out


# The request's state machine ----------------------------------------------------------------
class InvoiceStatus:
    REQUESTED = "requested"
    ISSUED = "issued"
    REFUSED = "refused"
    # At most one of these per order (a partial unique index): one open request, one invoice.
    ACTIVE = (REQUESTED, ISSUED)


INVOICE_TRANSITIONS = {
    InvoiceStatus.REQUESTED: {InvoiceStatus.ISSUED, InvoiceStatus.REFUSED},
    InvoiceStatus.ISSUED: set(),
    InvoiceStatus.REFUSED: set(),
}


def check_invoice_transition(current: str, target: str) -> None:
    if target not in INVOICE_TRANSITIONS.get(current, set()):
        raise IllegalTransition("invoice", current, f"mark {target}")


class NothingToInvoiceError(ConflictError):
    """The order has no money left to invoice (unpaid, or refunded in full)."""


class InvoiceTitleError(RuleViolation):
    pass


def invoice_amount(paid_fen: int, refunded_fen: int) -> int:
    """What an invoice issued now carries: what the buyer paid less what was refunded (billing's
    books at issue time). Refused when nothing is left."""
    amount = paid_fen - refunded_fen
    if amount <= 0:
        raise NothingToInvoiceError(
            "nothing to invoice: the order is not paid or was refunded in full", {"order_id": ["nothing to invoice"]}
        )
    return amount


def repeat_matches(status: str, target: str, same_detail: bool) -> bool:
    """Whether asking again for a transition already made (same number, same reason) is the same
    request, answered with the invoice unchanged (idempotent), rather than a conflict."""
    return status == target and same_detail
