"""Masking of personal data (CONTRACTS.md "Auth", BUSINESS-RULES.md "Security and compliance").

Phones and names are masked in list views, events and logs; the full value only on a single order,
to roles that ship or serve it.
"""
from __future__ import annotations

import re

# Mainland mobile numbers (11 digits starting with 1) and other runs of 7+ digits that look like phones.
PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_phone(phone: str | None) -> str | None:
    """138****5678; anything else keeps its first 3 and last 4 characters."""
    if not phone:
        return phone
    digits = phone.strip()
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
    """Mask every mobile number inside free text (log lines, notes)."""
    return PHONE_RE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
