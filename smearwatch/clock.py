"""The daemon's clock: the real one, or a fake one that tests and the soak benchmark can start
at any instant and run faster than real time.

`SMEARWATCH_FAKE_NOW` (ISO 8601 with zone) is the fake time at the real instant
`SMEARWATCH_FAKE_EPOCH` (Unix seconds; default: when the process started) and
`SMEARWATCH_FAKE_SPEED` (default 1) how many fake seconds pass per real second. Several
processes given the same three values share one fake timeline, so a test can stop and restart
the daemon and run `smearwatch status --check` on the same clock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "clock_from_env", "install_in_apscheduler"]


class Clock:
    """Aware UTC `now()`; `fake_seconds(real)` converts a real wait into fake time."""

    def __init__(
        self, start: datetime | None = None, *, epoch: float | None = None, speed: float = 1.0
    ) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("the fake start time needs a time zone")
        if speed <= 0:
            raise ValueError("the clock speed must be > 0")
        self.start = start.astimezone(UTC) if start is not None else None
        self.epoch = time.time() if epoch is None else epoch
        self.speed = speed

    @property
    def fake(self) -> bool:
        return self.start is not None

    def now(self) -> datetime:
        if self.start is None:
            return datetime.now(UTC)
        return self.start + timedelta(seconds=(time.time() - self.epoch) * self.speed)

    def real_seconds(self, fake_seconds: float) -> float:
        """How long to really wait for `fake_seconds` of this clock to pass."""
        return fake_seconds / self.speed


def clock_from_env(env: Mapping[str, str] | None = None) -> Clock:
    env = os.environ if env is None else env
    value = env.get("SMEARWATCH_FAKE_NOW")
    if not value:
        return Clock()
    start = datetime.fromisoformat(value.replace("Z", "+00:00"))
    epoch = env.get("SMEARWATCH_FAKE_EPOCH")
    return Clock(
        start,
        epoch=float(epoch) if epoch else None,
        speed=float(env.get("SMEARWATCH_FAKE_SPEED", "1")),
    )


class _ClockDatetime:
    """Stands in for `datetime` inside APScheduler's modules, which only call `now()`."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self, tz: object = None) -> datetime:
        now = self._clock.now()
        return now.astimezone(tz) if tz is not None else now.astimezone().replace(tzinfo=None)


def install_in_apscheduler(clock: Clock) -> None:
    """Make APScheduler read a fake clock (tests and benchmarks only; the real clock needs
    nothing). Its scheduler and executor modules use `datetime.now` and nothing else of
    `datetime`, which is what makes this substitution safe; the waits between wake-ups are
    scaled by `FakeClockScheduler`."""
    if not clock.fake:
        return
    from apscheduler.executors import base as executors_base
    from apscheduler.schedulers import base as schedulers_base

    shim = _ClockDatetime(clock)
    schedulers_base.datetime = shim  # type: ignore[attr-defined]
    executors_base.datetime = shim  # type: ignore[attr-defined]
