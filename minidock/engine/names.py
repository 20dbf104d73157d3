"""Names for containers nobody named: an adjective and a pioneer of computing, as Docker does.

Implements: spec/engine.md ENGINE-CTR-020
Explained:  chapters/05-engine.md#containers
Modelled on: moby's pkg/namesgenerator (the idea; these word lists are our own)

    random_name(taken) -> "patient_hopper"     never one in ``taken``
"""

from __future__ import annotations

import random

ADJECTIVES = (
    "agile", "bold", "brave", "bright", "calm", "careful", "cheerful", "clever", "curious",
    "daring", "eager", "earnest", "fearless", "gentle", "glad", "honest", "humble", "jolly",
    "keen", "kind", "lively", "lucid", "merry", "modest", "nimble", "noble", "patient",
    "polite", "quick", "quiet", "rapid", "sharp", "silent", "steady", "sturdy", "swift",
    "tender", "tidy", "upbeat", "vivid", "warm", "wise", "witty", "zealous",
)
PIONEERS = (
    "allen", "babbage", "backus", "barbara", "bell", "berners", "cerf", "codd", "conway",
    "corbato", "dijkstra", "engelbart", "floyd", "hamilton", "hoare", "hopper", "johnson",
    "kahn", "karp", "kay", "knuth", "lamport", "liskov", "lovelace", "mccarthy", "milner",
    "minsky", "naur", "pike", "perlman", "ritchie", "shannon", "spaerck", "stallman",
    "sutherland", "tarjan", "thompson", "torvalds", "turing", "vonneumann", "wilkes", "wirth",
)


def random_name(taken: set[str] | frozenset[str] = frozenset()) -> str:
    """An unused adjective_pioneer name; a digit is added once many are taken."""
    for attempt in range(1000):
        name = f"{random.choice(ADJECTIVES)}_{random.choice(PIONEERS)}"
        if attempt > 10:
            name += str(random.randint(0, 9))
        if name not in taken:
            return name
    raise RuntimeError("no free container name")  # 44 * 42 * 10 names all taken
