"""Networking: namespaces, bridges, veths, IPAM, netfilter, published ports, embedded DNS.

Implements: spec/networking.md NET-001 .. NET-086
Explained:  chapters/07-networking.md
Modelled on: libnetwork's bridge driver, docker-proxy and the embedded resolver

    sandbox.py    a container's network namespace: a bind-mounted nsfs file (create, inside, remove)
    links.py      netlink through pyroute2: bridges, veth pairs, addresses, routes (tagged links)
    legacy_links.py  Docker's --link: the hosts line and environment variables of a link  (pure)
    ipam.py       pools, gateways, static and dynamic addresses, a free subnet       (pure)
    ipv6.py       the IPv6 half of a dual-stack network: its pool, addresses, routes
    ports.py      -p specs, PortBindings, NetworkSettings.Ports                      (pure)
    etcfiles.py   /etc/hosts and /etc/resolv.conf                                    (pure)
    firewall.py   iptables chains per daemon: MASQUERADE, isolation, DNAT     (rules pure, shell thin)
    nftables.py   the same in an nftables table per daemon, when the host has no iptables
    forwarding.py net.ipv4.ip_forward on at the start (and FORWARD DROP), as dockerd does
    proxy.py      the userland proxy: a published port on the host's own addresses
    dns.py        the embedded DNS of user-defined networks
    driver.py     the Driver interface; bridge, null (none) and host drivers
    overlay.py    the overlay driver: a vxlan link on the bridge, peers' FDB and neighbour entries
    vip.py        service VIPs: nftables round robin in each container's namespace
    reaper.py     a lock per live daemon; the links and chains of dead ones removed

Rules: what needs no kernel is pure and unit-tested without root; each shell
module does one kind of I/O. The engine (minidock.engine.networks) keeps the
records and drives these; nothing here imports the engine.
"""
