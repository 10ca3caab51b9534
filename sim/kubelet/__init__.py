"""What the kubelet gives a pod for Service discovery: environment variables, resolv.conf and
/etc/hosts.

Model
    :mod:`sim.kubelet.envvars` follows ``envvars.FromServices`` and ``getServiceEnvVarMap``
    (which services, which variables, in which order); :mod:`sim.kubelet.resolvconf` follows
    ``GetPodDNS`` per ``dnsPolicy`` with ``dnsConfig`` merging and the limits;
    :mod:`sim.kubelet.hosts` writes the managed hosts file.
Scope and limitations
    Variables are computed for the pod's creation instant (``creation_index``): later Services
    are absent until the pod is recreated. ``env``/``envFrom`` of containers and ``$(VAR)``
    expansion are not modelled; option order from ``dnsConfig`` merges is first-seen (upstream
    goes through a Go map and has no order). Host aliases are not written.
Validation
    ``tests/kubelet`` uses upstream ``envvars_test.go`` expectations verbatim, the docs'
    redis example, and resolv.conf cases from ``dns_test.go``-style inputs.
"""
