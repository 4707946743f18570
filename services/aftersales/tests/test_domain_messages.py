"""The rules of buyer notifications without a database: templates, quiet hours, back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aftersales import messages


def test_every_template_renders_with_its_variables():
    t = messages.TEMPLATES["order_shipped"]
    assert t.fields() == {"order_id", "carrier", "tracking_no"}
    text = t.render({"order_id": "O1", "carrier": "顺丰", "tracking_no": "SF1"})
    assert text.startswith("【已发货】") and "SF1" in text
    with pytest.raises(KeyError):
        t.render({"order_id": "O1"})
    assert {t.category for t in messages.TEMPLATES.values()} == {messages.SERVICE, messages.MARKETING}
    assert messages.yuan(1250) == "12.50" and messages.yuan(5) == "0.05"


def test_quiet_hours_wrap_midnight_in_local_time():
    window = messages.parse_window("22:00-08:00")
    at = lambda h, m=0: datetime(2026, 12, 3, h, m, tzinfo=UTC)  # noqa: E731
    # 14:00 UTC = 22:00 in China: quiet until 08:00 China = 00:00 UTC next day
    assert messages.quiet_until(at(14), window, 8) == datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    assert messages.quiet_until(at(13, 59), window, 8) is None
    assert messages.quiet_until(at(23, 59), window, 8) == datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    assert messages.quiet_until(at(0), window, 8) is None
    assert messages.quiet_until(at(10), messages.parse_window("00:00-00:00"), 8) is None
    with pytest.raises(ValueError):
        messages.parse_window("22")


def test_back_off_doubles_up_to_an_hour():
    assert [messages.backoff(n, 30) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (30, 60, 120)]
    assert messages.backoff(20, 30) == timedelta(hours=1)
