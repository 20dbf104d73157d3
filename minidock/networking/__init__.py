"""Networking: bridge, host, none, published ports, DNS, overlay.

Implements: spec/networking.md (planned, issue 8)
Explained:  chapters/07-networking.md
Modelled on: libnetwork's bridge and overlay drivers

plan(network, endpoint) -> list[Step] is pure; apply(steps) talks netlink
(pyroute2) and netfilter. Every driver runs the same reusable test suite.

Nothing is public yet: this package is a place reserved for issue 8.
"""
