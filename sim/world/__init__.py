"""The simulated cluster under a discrete-event clock (the only package that imports simpy).

Model
    A networkx topology of nodes, pods, outside hosts and a cloud load balancer
    (:mod:`sim.world.network`); packets move hop by hop, each hop one SimPy event at its own
    simulated time (scheduled with the key a timeout would get), and pass
    through each node's netfilter engine at the kernel's hooks (:mod:`sim.world.engine`,
    :mod:`sim.world.datapath`). The control plane runs with time: an apiserver change reaches
    every kube-proxy after the EndpointSlice and watch delays; kube-proxy syncs under
    upstream's ``BoundedFrequencyRunner`` limits and each restore takes a time calibrated
    against the real ``iptables-restore`` (:mod:`sim.world.kubeproxy`,
    :mod:`sim.world.restore`). Clients open TCP connections or send UDP at constant or
    Poisson rates (:mod:`sim.world.workload`); timed events change the cluster
    (:mod:`sim.world.events`); everything observed goes to :mod:`sim.world.recorder`.
    Randomness: one run seed, one numpy Generator per component spawned by name
    (:mod:`sim.world.rng`).
Scope and limitations
    No ARP, MTU, loss or queueing (bandwidth only adds serialisation time); TCP is SYN,
    SYN-ACK, request, response without teardown or retransmission; ICMP errors from REJECT go
    straight back to the sender without traversing netfilter, while a closed UDP port's ICMP
    error travels back as the flow's reply (un-NATed by its conntrack entry); hostNetwork pods are not attached; a partial kube-proxy sync rewrites a
    service port when any of its chains changed (upstream: when its change trackers say
    so); compilation costs no simulated time; at t=0 the cluster is in steady state (the
    initial objects are programmed on every node).
Validation
    ``tests/world``: routing and delivery on hand-built clusters, sync timing against
    hand-computed schedules, soundness of the shared-compilation key (equal node views give
    byte-identical payloads), shared engine compilation equal to per-node compilation.
    ``tests/scenario``: the shipped scenarios in ``scenarios/world`` meet their expectations
    and two runs with one seed write byte-identical files. The hooks, NAT and conntrack are
    the engine's, checked against the kernel in ``tests/netfilter``.
"""
