"""Masking of personal data (CONTRACTS.md "Auth", BUSINESS-RULES.md "Security and compliance").

Phones and names are masked in list views, events and logs; the full value only on a single order,
to roles that ship or serve it.
"""

from __future__ import annotations

import re

# A mainland mobile number in any of the spellings people type: 11 digits 1[3-9]xxxxxxxxx, ASCII or
# full-width, optionally after +86 / 86 / 0086, with at most one separator (space, dash or dot, ASCII
# or full-width) between any two digits: 13987651234, 139 8765 1234, 139-8765-1234, +86-139...,
# 0086 13987651234, １３９８７６５１２３４.
# The boundary rule: the number must not touch another digit. A digit right before or after it makes
# it part of a longer number (an order id, a 19-digit tracking number, a timestamp without separators)
# and nothing is masked; a separator, a letter or any other character ends it, so a phone written
# next to another number with a space between is still masked. Dates, times and money amounts never
# hold 11 digits in one separated run starting 1[3-9] and are left alone.
_D = "[0-9\uff10-\uff19]"  # a digit, ASCII or full-width
_S = "[ .\\-\u3000\uff0d\uff0e]"  # one separator: space, dot, dash, and their full-width forms
_8, _6, _0 = "[8\uff18]", "[6\uff16]", "[0\uff10]"
PHONE_RE = re.compile(
    f"(?<!{_D})(?:(?:[+\uff0b]{_8}{_6}|{_0}{_0}{_8}{_6}|{_8}{_6}){_S}?)?"
    f"(?P<number>[1\uff11]{_S}?[3-9\uff13-\uff19](?:{_S}?{_D}){{9}})(?!{_D})"
)
_ASCII = str.maketrans("０１２３４５６７８９", "0123456789")


def _masked(match: re.Match[str]) -> str:
    """138****5678 from a PHONE_RE match: the prefix and separators go, digits become ASCII."""
    digits = re.sub(_S, "", match.group("number")).translate(_ASCII)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_phone(phone: str | None) -> str | None:
    """138****5678 for a mobile number in any spelling (PHONE_RE); anything else (a landline) keeps
    its first 3 and last 4 characters."""
    if not phone:
        return phone
    digits = phone.strip()
    match = PHONE_RE.fullmatch(digits)
    if match:
        return _masked(match)
    if len(digits) <= 7:
        return digits[:1] + "*" * (len(digits) - 1)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(name: str | None) -> str | None:
    """张* for 张三, 欧阳** for 欧阳娜娜 style names keep only the first character: 欧***."""
    if not name:
        return name
    name = name.strip()
    return name[:1] + "*" * max(1, len(name) - 1)


def scrub(text: str) -> str:
    """Mask every mobile number inside free text (log lines, notes, complaints) as 138****5678, in
    whatever spelling it was written (PHONE_RE)."""
    return PHONE_RE.sub(_masked, text)
