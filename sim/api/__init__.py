"""What the Kubernetes apiserver and its controllers do to Service-related objects.

Model
    :class:`~sim.api.apiserver.ApiServer` is a mutable object store. ``apply`` takes one
    manifest as ``kubectl apply --validate=strict`` sends it: strict decoding (unknown fields
    and wrong types refused, :mod:`sim.api.schema`), defaulting (:mod:`sim.api.defaults`,
    after ``pkg/apis/core/v1/defaults.go``), validation with the apiserver's messages
    (:mod:`sim.api.validation`, after ``pkg/apis/core/validation``), ClusterIP and NodePort
    allocation (:mod:`sim.api.allocators`, after ``pkg/registry/core/service``) and a simulated
    cloud load balancer. Deployments/ReplicaSets create pods from their template. ``snapshot``
    runs the EndpointSlice and EndpointSliceMirroring controllers (:mod:`sim.api.controllers`)
    and returns a frozen :class:`~sim.model.ClusterState`.
Scope and limitations
    Namespace, Node, Pod, Service, Endpoints, EndpointSlice (discovery.k8s.io/v1), Deployment
    and ReplicaSet (apps/v1); other kinds are skipped with a warning. Only matchLabels
    selectors. Changes take effect at once: the watch and controller delays are the world's
    job (``sim.world``). Allocation error texts follow the v1.12-1.19 apiserver (the era with
    the ``SCTPSupport`` gate); field validation follows current upstream. Endpoint addresses
    inside the service CIDR are refused with our own message (upstream documents the rule but
    does not enforce it at admission). Pod names, EndpointSlice names and pod-template hashes
    are deterministic stand-ins for upstream's random suffixes. When the simulated
    load-balancer pool is exhausted the Service stays without ingress (``<pending>``) and a
    warning says so, as a cloud controller that cannot provision leaves it.
Validation
    ``tests/api`` checks every defaulting and validation rule with the exact message text
    (written from upstream's sources, not from our output), allocator collisions and ranges,
    the controllers' endpoint conditions against ``podToEndpoint``, strict decoding of a real
    ``kubectl get -o yaml`` dump, determinism (same seed, any ``PYTHONHASHSEED``), and, with
    hypothesis, that incremental snapshots equal snapshots built from scratch.
"""

from sim.api.apiserver import ApiServer

__all__ = ["ApiServer"]
