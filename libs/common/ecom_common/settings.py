"""One frozen settings object per service, declared once.

Each service's `settings.py` declares its figures as fields of a frozen dataclass:

    @dataclass(frozen=True)
    class Settings(ServiceSettings):
        unpaid_timeout_minutes: int = setting("ORDERS_UNPAID_TIMEOUT_MINUTES", 30, "minutes to pay")

and reads them all at once with `Settings.from_config(config)`: the variable's value cast to the
field's type, or the default. `Settings.table()` is the list a service README's settings table is
checked against (`ecom_testkit.settings_table`, from each service's tests), so the README names every variable the code
reads, with the default the code uses.

`settings_of(config, Settings)` keeps one instance per Config (a view or a handler asks for it on
every call: parsing the environment each time would be waste).
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, get_type_hints

from .config import Config

S = TypeVar("S", bound="ServiceSettings")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def setting(env: str, default: Any, doc: str, *, parse: Any = None) -> Any:
    """A field read from the variable `env` (cast to the field's type, or by `parse(raw)`)."""
    return dataclasses.field(default=default, metadata={"env": env, "doc": doc, "parse": parse})


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"not a yes/no value: {raw!r}")


def parse_csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


_CASTS: dict[Any, Any] = {int: int, float: float, str: str, bool: parse_bool, tuple[str, ...]: parse_csv}


@dataclass(frozen=True)
class SettingRow:
    env: str
    default: Any
    doc: str


@dataclass(frozen=True)
class ServiceSettings:
    """Base of every service's Settings; subclasses are frozen dataclasses of `setting(...)` fields."""

    PREFIX: ClassVar[str] = ""

    @classmethod
    def from_config(cls: type[S], config: Config) -> S:
        hints = get_type_hints(cls)
        values = {}
        for f in dataclasses.fields(cls):
            env = f.metadata.get("env")
            if env is None:
                continue
            raw = config.settings.get(env)
            if raw is None or raw == "":
                continue
            parse = f.metadata.get("parse") or _CASTS.get(_plain(hints[f.name]))
            if parse is None:
                raise TypeError(f"{cls.__name__}.{f.name}: give setting(..., parse=) for {hints[f.name]!r}")
            try:
                values[f.name] = parse(raw)
            except ValueError as exc:
                raise ValueError(f"{env}={raw!r}: {exc}") from exc
        return cls(**values)

    @classmethod
    def table(cls) -> list[SettingRow]:
        return [
            SettingRow(f.metadata["env"], f.default, f.metadata["doc"])
            for f in dataclasses.fields(cls)
            if "env" in f.metadata
        ]


def _plain(hint: Any) -> Any:
    # `int | None` reads as int: an unset variable keeps the default (None), a set one is cast.
    args = getattr(hint, "__args__", None)
    if args and type(None) in args and len(args) == 2:
        return next(a for a in args if a is not type(None))
    return hint


_cache: dict[tuple[int, type], tuple[Config, ServiceSettings]] = {}
_cache_lock = threading.Lock()


def settings_of(config: Config, cls: type[S]) -> S:
    """`cls.from_config(config)`, once per (config, class)."""
    key = (id(config), cls)
    hit = _cache.get(key)
    if hit is not None and hit[0] is config:
        return hit[1]  # type: ignore[return-value]
    value = cls.from_config(config)
    with _cache_lock:
        if len(_cache) > 256:  # tests build many configs; keep the cache small
            _cache.clear()
        _cache[key] = (config, value)
    return value
