"""Restart policies: whether, and after how long, an exited container runs again.

Implements: spec/engine.md ENGINE-RST-001 .. ENGINE-RST-003
Explained:  chapters/05-engine.md#restart-policies
Modelled on: moby's restartmanager (a back-off that doubles from 100 ms, reset after 10 s up)

    check(host_config)                              refuse what Docker refuses, at create
    should_restart(policy, exit_code, count, manually_stopped) -> bool
    next_delay(previous, ran_for) -> seconds        100 ms, 200 ms, 400 ms, ... at most 1 minute

Rules: pure functions; the container service owns the timers.
"""

from __future__ import annotations

from minidock.errors import InvalidArgument

POLICIES = ("no", "always", "unless-stopped", "on-failure")
FIRST_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0  # seconds up after which the back-off starts again


def policy_of(host_config: dict) -> tuple[str, int]:
    """(name, maximum retry count) of a HostConfig's RestartPolicy."""
    policy = host_config.get("RestartPolicy") or {}
    return (policy.get("Name") or "no"), int(policy.get("MaximumRetryCount") or 0)


def check(host_config: dict) -> None:
    """[ENGINE-RST-001] Docker's refusals, in Docker's words."""
    name, retries = policy_of(host_config)
    if name not in POLICIES:
        raise InvalidArgument(f"invalid restart policy '{name}'")
    if retries and name != "on-failure":
        raise InvalidArgument(f"maximum retry count cannot be used with restart policy '{name}'")
    if retries < 0:
        raise InvalidArgument("maximum retry count cannot be negative")
    if name != "no" and host_config.get("AutoRemove"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")


def should_restart(host_config: dict, exit_code: int, restart_count: int, manually_stopped: bool) -> bool:
    """[ENGINE-RST-002] always and unless-stopped: unless stopped by hand; on-failure: non-zero, within the count."""
    name, retries = policy_of(host_config)
    if manually_stopped or name == "no":
        return False
    if name == "on-failure":
        return exit_code != 0 and (retries == 0 or restart_count < retries)
    return True


def next_delay(previous: float, ran_for: float) -> float:
    """The wait before the next restart: doubled each time, back to the start after a good run."""
    if ran_for >= RESET_AFTER or previous <= 0:
        return FIRST_DELAY
    return min(previous * 2, MAX_DELAY)


def starts_with_daemon(host_config: dict, manually_stopped: bool, was_running: bool) -> bool:
    """[ENGINE-RST-003] at daemon start: always; unless-stopped unless stopped by hand; on-failure if it ran."""
    name, _ = policy_of(host_config)
    if name == "always":
        return True
    if name == "unless-stopped":
        return not manually_stopped
    return name == "on-failure" and was_running
