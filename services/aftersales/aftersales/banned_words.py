"""Catalog's advertising-law word list, applied to review text (no Flask/SQL).

Catalog owns the list (`GET catalog /api/v1/banned-words`, banned words and their exemptions);
aftersales does not import catalog: gateways.CatalogGateway reads the list over HTTP and keeps it
for AFTERSALES_BANNED_WORDS_CACHE_SECONDS, so a word an admin adds reaches reviews within that time.
The matching follows catalog's scan: case-insensitive; an exemption covers the banned words inside it
(最近 is not 最); a longer banned word is reported instead of its parts (全网第一, not also 第一).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lexicon:
    banned: tuple[str, ...] = ()
    exemptions: tuple[str, ...] = ()


def _mask(text: str, word: str) -> str:
    return text.replace(word, "\x00" * len(word)) if word else text


def found(text: str | None, lexicon: Lexicon) -> list[str]:
    """The banned words `text` uses (as listed), longest first, exemptions and longer words' parts excluded."""
    if not text:
        return []
    hay = text.casefold()
    for exemption in sorted(lexicon.exemptions, key=len, reverse=True):
        hay = _mask(hay, exemption.casefold())
    hits = []
    for word in sorted(lexicon.banned, key=lambda w: (-len(w), w)):
        key = word.casefold()
        if key and key in hay:
            hits.append(word)
            hay = _mask(hay, key)
    return hits
