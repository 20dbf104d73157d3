"""Swarm: a cluster of engines, services, rolling updates, overlay networks.

Implements: spec/swarm.md (planned, issue 12)
Explained:  chapters/11-swarm.md
Modelled on: swarmkit's manager/agent split, with etcd as the Raft store

The reconciler is pure: reconcile(desired, observed) -> task changes. Agents
talk to their local engine only through its API.

Nothing is public yet: this package is a place reserved for issue 12.
"""
