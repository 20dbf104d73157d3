"""Swarm: a cluster of engines, services, rolling updates; its state in etcd.

Implements: spec/swarm.md
Explained:  chapters/11-swarm.md
Modelled on: swarmkit's manager/agent split, with etcd as the Raft store

    model.py      Node, Service, Task, TaskState and its TRANSITIONS      (pure)
    reconcile.py  reconcile(services, nodes, tasks, now) -> [Action]       (pure)
    objects.py    the Engine API's JSON shapes, specs checked              (pure)
    store.py      etcd's v3 JSON gateway: get, put, swap, lease, watch
    member.py     a manager's etcd member process
    manager.py    the leader election and the reconcile loop
    agent.py      a node's tasks run on its local engine, through its API
    networks.py   the cluster's overlays: records, addresses; each node's engine kept in step
    secrets.py    secrets and configs: in the store, and as files on a tmpfs in the tasks
    cluster.py    the API's operations on services, nodes and tasks
    api.py        the swarm paths on the node's unix socket
    node.py       the process: init, join, leave, heartbeat (python -m minidock.swarm.node)

Nothing is imported here: the CLI and the engine load only what they use.
"""
