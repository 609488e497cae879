"""The signature as records carry it (monitor/core/esign.py): its JSON round trip, what it
refuses, and its manifestation (21 CFR 11.50) in UTC and the site's zone across DST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.core.esign import Signature, manifestation, signature_of

BERLIN = ZoneInfo("Europe/Berlin")


def signed_at(at: datetime, **kw: Any) -> Signature:
    base: dict[str, Any] = {
        "user_id": "dreyes",
        "printed_name": "Dana Reyes",
        "meaning": "Acknowledged: product checked and safe",
        "comment": "checked",
        "action": "acknowledge",
        "signed_at": at,
        "credentials": "password",
    }
    base.update(kw)
    return Signature(**base)


@pytest.mark.parametrize(
    ("utc", "local"),
    [
        # the night clocks go forward (2026-03-29 02:00 CET -> 03:00 CEST)
        (datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC), "2026-03-29 01:59:59 CET"),
        (datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC), "2026-03-29 03:00:00 CEST"),
        # the night they go back: 02:30 local happens twice, the zone name tells which
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "2026-10-25 02:30:00 CEST"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "2026-10-25 02:30:00 CET"),
    ],
)
def test_the_manifestation_shows_utc_and_site_time_across_dst(utc: datetime, local: str) -> None:
    text = manifestation(signed_at(utc), BERLIN)
    assert text == (
        f"Signed by Dana Reyes on {utc:%Y-%m-%d %H:%M:%S} UTC ({local}): "
        "Acknowledged: product checked and safe"
    )


def test_a_time_given_in_another_zone_is_shown_in_utc() -> None:
    at = datetime(2026, 7, 1, 14, 0, tzinfo=BERLIN)  # CEST: 12:00 UTC
    assert manifestation(signed_at(at)) == (
        "Signed by Dana Reyes on 2026-07-01 12:00:00 UTC: Acknowledged: product checked and safe"
    )


def test_json_round_trip_and_what_is_refused() -> None:
    signature = signed_at(
        datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC), session_id="s", clock_synchronised=False
    )
    assert Signature.from_json(signature.to_json()) == signature
    assert signature_of({"signature": signature.to_json()}) == signature
    assert signature_of({}) is None and signature_of({"signature": {"user_id": "x"}}) is None
    with pytest.raises(ValueError, match="time zone"):
        signed_at(datetime(2026, 3, 1, 12, 0))
    with pytest.raises(ValueError, match="not a signed action"):
        signed_at(datetime(2026, 3, 1, tzinfo=UTC), action="delete")
    with pytest.raises(ValueError, match="needs its meaning"):
        signed_at(datetime(2026, 3, 1, tzinfo=UTC), meaning=" ")
