"""Health checks: a command run in the container now and then, its results kept in State.Health.

Implements: spec/engine.md ENGINE-HLT-001 .. ENGINE-HLT-003
Explained:  chapters/05-engine.md#health-checks
Modelled on: moby's daemon/health.go (a probe per interval, a failing streak, the last 5 results)

    starting ──success──▶ healthy ──Retries failures in a row──▶ unhealthy ──success──▶ healthy

    Check.from_config(config["Healthcheck"]) -> Check | None   (None: no check, or Test ["NONE"])
    Check.argv -> the command ("CMD-SHELL x" is /bin/sh -c x)
    record(health, result, check, started) -> new status        pure: the state machine above
    Monitor(check, probe, on_status): run() until cancelled

Rules: the state machine is pure (tested without a container); the engine
gives Monitor a probe that execs in the container.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Awaitable, Callable

from minidock.engine.container import now
from minidock.errors import InvalidArgument

SECOND = 10**9  # the API's durations are nanoseconds
DEFAULTS = {"Interval": 30 * SECOND, "Timeout": 30 * SECOND, "StartPeriod": 0, "Retries": 3}
KEEP = 5          # results kept in State.Health.Log
OUTPUT = 4096     # bytes of output kept per result


@dataclasses.dataclass(frozen=True)
class Check:
    argv: tuple[str, ...]
    interval: float
    timeout: float
    start_period: float
    retries: int

    @classmethod
    def from_config(cls, value: dict | None) -> "Check | None":
        """Docker's Healthcheck object; None when there is none or it is ["NONE"]."""
        if not value or not value.get("Test"):
            return None
        test = value["Test"]
        if not isinstance(test, list) or not all(isinstance(t, str) for t in test):
            raise InvalidArgument("Healthcheck.Test must be a list of strings")
        if test[0] == "NONE":
            return None
        if test[0] == "CMD":
            argv = tuple(test[1:])
        elif test[0] == "CMD-SHELL":
            argv = ("/bin/sh", "-c", " ".join(test[1:]))
        else:
            raise InvalidArgument(f"Healthcheck.Test must start with NONE, CMD or CMD-SHELL, not {test[0]!r}")
        if not argv:
            raise InvalidArgument("Healthcheck.Test has no command")
        values = {key: value.get(key) or default for key, default in DEFAULTS.items()}
        for key in ("Interval", "Timeout", "StartPeriod"):
            if values[key] and values[key] < 1_000_000:  # Docker's rule and words: at least 1 ms
                raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
        if values["Retries"] < 0:
            raise InvalidArgument("Retries in Healthcheck cannot be negative")
        return cls(argv, values["Interval"] / SECOND, values["Timeout"] / SECOND,
                   values["StartPeriod"] / SECOND, int(values["Retries"]))


def record(health: dict, result: dict, check: Check, started: float) -> str:
    """Add ``result`` ({"ExitCode", "Output", "Start", "End"}) to ``health``; return the new status.

    [ENGINE-HLT-002] a success makes it healthy; Retries failures in a row make it unhealthy,
    but failures within the start period do not count while it is still starting.
    """
    health["Log"] = [*health.get("Log", []), result][-KEEP:]
    if result["ExitCode"] == 0:
        health["FailingStreak"] = 0
        health["Status"] = "healthy"
    elif health.get("Status") == "starting" and time.time() - started < check.start_period:
        pass  # still starting: a failure is not held against it
    else:
        health["FailingStreak"] = health.get("FailingStreak", 0) + 1
        if health["FailingStreak"] >= check.retries:
            health["Status"] = "unhealthy"
    return health["Status"]


Probe = Callable[[tuple[str, ...]], Awaitable[tuple[int, bytes]]]


class Monitor:
    """Runs one container's check every interval while it runs."""

    def __init__(self, check: Check, health: dict, probe: Probe,
                 on_change: Callable[[str], None]) -> None:
        self.check = check
        self.health = health
        self.probe = probe
        self.on_change = on_change
        self.started = time.time()
        health.clear()
        health.update({"Status": "starting", "FailingStreak": 0, "Log": []})

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.check.interval)
            begin = now()
            try:
                code, output = await asyncio.wait_for(self.probe(self.check.argv), self.check.timeout)
            except asyncio.TimeoutError:
                code, output = -1, f"Health check exceeded timeout ({self.check.timeout:g}s)".encode()
            except Exception as error:  # noqa: BLE001 - a probe that cannot run is a failed probe
                code, output = -1, str(error).encode()
            before = self.health["Status"]
            status = record(self.health, {"Start": begin, "End": now(), "ExitCode": code,
                                          "Output": output[:OUTPUT].decode(errors="replace")},
                            self.check, self.started)
            if status != before:
                self.on_change(status)
