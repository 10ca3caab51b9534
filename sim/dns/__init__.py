"""Cluster DNS: records, a pod's stub resolver, a cache and a real wire server.

Model
    :mod:`sim.dns.records` answers questions about a :class:`~sim.model.ClusterState` as
    CoreDNS's ``kubernetes`` plugin does (the Kubernetes DNS specification 1.1.0 where it
    decides, CoreDNS where it leaves a choice): A/AAAA, headless per-endpoint records, SRV, PTR,
    ExternalName CNAME, ``dns-version`` TXT, NXDOMAIN versus NODATA with the SOA.
    :mod:`sim.dns.resolver` expands names through a pod's resolv.conf as glibc and musl do and
    counts the queries; :mod:`sim.dns.cache` is the ``cache`` plugin; :mod:`sim.dns.server`
    serves the records over real UDP/TCP on 127.0.0.1 with dnspython doing the wire format.
    Everything but the server is pure and sans-IO so the simulated world can carry each query
    as a packet.
Scope and limitations
    No forwarding: out-of-zone names come from the scenario's ``dns.upstream`` table or are
    NXDOMAIN. Not modelled: ``autopath``, ``fallthrough``, multicluster and zonal names,
    ``namespaces``/``labels`` filters, the SERVFAIL answered before the API sync, DNSSEC,
    the server's own rate limits. Resolver retransmission timing is the caller's job (it feeds
    ``None`` for a query that got no reply). The glibc option ``rotate`` is not modelled
    (queries go to the first nameserver). A name no query can carry (empty, empty label,
    label over 63 bytes, over 255 bytes on the wire) sends nothing, as glibc's
    ``res_nmkquery`` failure; backslash escapes in names are not interpreted. The nodes'
    resolv.conf is ``spec.dns.nodeResolvConf`` (default empty); the SOA serial is fixed
    (``spec.dns.soaSerial``, default 1) where CoreDNS uses the last change's Unix time.
Validation
    Expected answers in ``tests/dns`` are the spec's worked examples and CoreDNS's handler
    tests (weights, NODATA/NXDOMAIN, case); search sequences follow res_query.c and musl's
    lookup_name.c line by line; the wire server is queried with ``dig`` and dnspython and
    fuzzed with random packets.
"""
