"""With the default schedule (every 5 minutes) and window (refresh_before = 300 s), a run that starts a
few seconds late must still find a valid token: the planner renews with a margin before the window.

A simulation over a day of cron runs with start-up jitter, using the planner's own decision
(pgiam.flow.plan.due); without the margin the same simulation finds expired gaps, so it can fail.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from pgiam.flow import plan
from pgiam.host.schedule import DEFAULT_EVERY

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
LIFETIME = timedelta(seconds=900)
REFRESH_BEFORE = 300


def expired_gaps(max_jitter: float, seed: int, runs: int = 288) -> int:
    """How many runs found the token already expired (a window in which psql fails)."""
    rng = random.Random(seed)
    expires = START + LIFETIME  # signed by `pgiam add` at START
    gaps = 0
    for k in range(1, runs + 1):
        now = START + timedelta(seconds=k * DEFAULT_EVERY + rng.uniform(0, max_jitter))
        if expires <= now:
            gaps += 1
        if plan.due(expires, now, REFRESH_BEFORE):
            expires = now + timedelta(seconds=rng.uniform(0.05, 0.5)) + LIFETIME  # signing takes a moment
    return gaps


@pytest.mark.parametrize("max_jitter", [0.1, 2.0, 10.0, 45.0])
def test_late_runs_never_meet_an_expired_token(max_jitter: float) -> None:
    assert DEFAULT_EVERY == 300
    assert sum(expired_gaps(max_jitter, seed) for seed in range(20)) == 0


def test_without_the_margin_late_runs_meet_expired_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan, "MARGIN", timedelta(0))
    assert sum(expired_gaps(2.0, seed) for seed in range(20)) > 0
