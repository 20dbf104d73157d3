"""Docker's words for durations and sizes (go-units), shared by the daemon and the CLI.

Explained:  chapters/05-engine.md#the-cli

    human_duration(190) -> "3 minutes"      ("Up 3 minutes", "Exited (0) 3 minutes ago")
    human_size(4260000) -> "4.26MB"         powers of 1000, 4 significant digits
"""

from __future__ import annotations


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second", "About a minute", "3 hours", ..."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def human_size(size: float) -> str:
    """go-units HumanSize: powers of 1000, up to 4 significant digits ("4.26MB", "0B")."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    index = 0
    while size >= 1000 and index < len(units) - 1:
        size /= 1000
        index += 1
    return f"{size:.4g}{units[index]}"
