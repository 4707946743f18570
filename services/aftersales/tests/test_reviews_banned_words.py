"""Reviews scanned for catalog's banned words: the list read over HTTP (kept a few minutes, stale
when catalog is away), a hit holds the review pending and raises ReviewRiskFlagged."""

from __future__ import annotations

import pytest

from aftersales import banned_words, gateways
from aftersales.banned_words import Lexicon
from ecom_common.errors import ServiceUnavailable


def review(api, expect=201, **body):
    body.setdefault("order_id", "O1")
    body.setdefault("stars", 5)
    r = api.post("/api/v1/reviews", json=body)
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def test_a_banned_word_holds_the_review_pending_and_raises_the_risk_event(api):
    r = review(api, text="全网第一好用的面膜，最近回购")  # 最近 is exempt; 全网第一 reported, not also 第一
    assert (r["status"], r["banned_words"], r["risk_keywords"]) == ("pending", ["全网第一"], [])
    [alert] = api.events("aftersales.ReviewRiskFlagged")
    assert alert["payload"]["banned_words"] == ["全网第一"] and alert["payload"]["keywords"] == ["全网第一"]
    pending = api.get("/api/v1/reviews", query_string={"status": "pending"}, role="cs", sub="c", shop_id="S1")
    assert [x["review_id"] for x in pending.get_json()["items"]] == [r["review_id"]]
    published = api.get("/api/v1/reviews", query_string={"status": "published"}, role="cs", sub="c", shop_id="S1")
    assert published.get_json()["items"] == []


def test_a_clean_review_is_published_and_a_risk_word_alone_still_alerts(api):
    r = review(api, text="第一次买，效果不错")  # 第一次 is exempt
    assert (r["status"], r["banned_words"]) == ("published", [])
    assert api.events("aftersales.ReviewRiskFlagged") == []
    api.orders.add(order_id="O2", delivered_at=api.now_iso(days=-1))
    r = review(api, order_id="O2", stars=1, text="顶级假货")
    assert (r["status"], r["banned_words"], r["risk_keywords"]) == ("pending", ["顶级"], ["假货"])
    [alert] = api.events("aftersales.ReviewRiskFlagged")
    assert alert["payload"]["keywords"] == ["假货", "顶级"]


def test_no_text_no_call_and_catalog_unreachable_is_503_with_nothing_written(api):
    review(api, text=None)
    assert api.catalog.calls == 0
    api.orders.add(order_id="O2", delivered_at=api.now_iso(days=-1))
    api.catalog.down = True
    review(api, order_id="O2", text="很好", expect=503)
    assert api.count("reviews") == 1


def test_matching_is_case_insensitive_and_longest_first():
    lex = Lexicon(banned=("NO.1", "第一", "全网第一"), exemptions=("第一步",))
    assert banned_words.found("品质no.1，全网第一", lex) == ["NO.1", "全网第一"]  # as listed, longest first
    assert banned_words.found("第一步先洗脸", lex) == []
    assert banned_words.found(None, lex) == []


class FakeResponse:
    def __init__(self, body, status=200):
        self.body, self.status_code = body, status

    def json(self):
        return self.body


class FakeCatalogHttp:
    """catalog's GET /api/v1/banned-words, two pages; `down` behaves like PeerClient (503)."""

    def __init__(self):
        self.calls, self.down = 0, False

    def get(self, path, params=None):
        assert path == "/api/v1/banned-words"
        self.calls += 1
        if self.down:
            raise ServiceUnavailable("catalog is unreachable: ConnectionError")
        if not (params or {}).get("cursor"):
            return FakeResponse({"items": [{"word": "最", "kind": "banned"}], "next_cursor": "p2"})
        return FakeResponse({"items": [{"word": "最近", "kind": "exemption"}], "next_cursor": None})


@pytest.fixture
def gateway(config, monkeypatch):
    gw = gateways.CatalogGateway(config)
    gw.client = FakeCatalogHttp()
    now = [1000.0]
    monkeypatch.setattr(gateways.time, "monotonic", lambda: now[0])
    return gw, now


def test_the_gateway_pages_the_list_and_keeps_it_for_the_cache_time(gateway):
    gw, now = gateway
    assert gw.banned_words() == Lexicon(banned=("最",), exemptions=("最近",))
    assert gw.client.calls == 2  # two pages
    now[0] += gw.ttl - 1
    gw.banned_words()
    assert gw.client.calls == 2  # cached
    now[0] += 2
    gw.banned_words()
    assert gw.client.calls == 4  # read again after AFTERSALES_BANNED_WORDS_CACHE_SECONDS


def test_the_gateway_uses_the_stale_list_when_catalog_is_away_and_503_without_one(gateway):
    gw, now = gateway
    gw.client.down = True
    with pytest.raises(ServiceUnavailable):
        gw.banned_words()
    gw.client.down = False
    first = gw.banned_words()
    gw.client.down = True
    now[0] += gw.ttl + 1
    assert gw.banned_words() == first
