"""Marathon timestamps: UTC, ``yyyy-MM-dd'T'HH:mm:ss.SSS'Z'``.

Marathon emits exactly three fraction digits and a trailing ``Z``; the Python
client (marathon-python 0.13) parses ``%Y-%m-%dT%H:%M:%S.%fZ`` or
``%Y-%m-%dT%H:%M:%SZ`` only, so the ``Z`` is mandatory and ``+00:00`` is not a
timestamp. `parse_ts` also reads what clients echo back (six digits from
Python's ``%f``, or no fraction at all).
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone

__all__ = ["format_ts", "parse_ts"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TS_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z")


_MIN_MS = -62_135_596_800_000  # 0001-01-01T00:00:00.000Z
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def format_ts(epoch_seconds: float) -> str:
    """Epoch seconds -> ``2026-11-26T06:32:12.123Z`` (rounded to the millisecond). A time past what the format
    can write (year 9999, or infinity) is written as its last millisecond, one before year 1 as its first."""
    if epoch_seconds != epoch_seconds:
        raise ValueError("not a time: NaN")
    if epoch_seconds >= _MAX_MS / 1000:
        ms = _MAX_MS
    elif epoch_seconds <= _MIN_MS / 1000:
        ms = _MIN_MS
    else:
        ms = round(epoch_seconds * 1000)
    dt = _EPOCH + timedelta(milliseconds=ms)
    return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.{ms % 1000:03d}Z"


def parse_ts(text: str) -> float:
    """``...SS.mmmZ``, ``...SS.uuuuuuZ`` or ``...SSZ`` -> epoch seconds; ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"not a timestamp: {text!r}")
    m = _TS_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"not a Marathon timestamp (yyyy-MM-ddTHH:mm:ss.SSSZ): {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    # datetime() rejects month 13, Feb 30, hour 24 and so on.
    datetime(year, month, day, hour, minute, second)
    whole = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    frac = m.group(7)
    if not frac:
        return float(whole)
    return whole + int(frac) / 10 ** len(frac)
