"""The declared fields of each supported kind, for strict decoding.

``kubectl apply --validate=strict`` (server-side field validation, Kubernetes >= 1.27) refuses
a manifest that carries a field its API type does not declare, and the JSON decoder refuses a
value of the wrong type. :func:`check` reproduces both for the kinds the simulator models.

The field lists follow the Go types in ``k8s.io/api`` (core/v1, discovery/v1, apps/v1). Fields
that Service networking never reads (volumes, probes, resources, ...) are declared with
:data:`ANY` so that a real ``kubectl get -o yaml`` dump loads, but their contents are not
checked further.
"""

from __future__ import annotations

from typing import Any

from sim.api.fielderrors import child, index, key, unknown_field, wrong_type
from sim.model.errors import FieldError

STR, INT, BOOL, NUM, ANY, STRMAP, INT_OR_STR = (
    "string", "integer", "boolean", "number", "any", "map[string]string", "int-or-string")

Spec = Any  # str (scalar kind) | dict (object fields) | list[Spec] (array of one element spec)


def _fields(names: str, spec: Spec = ANY) -> dict[str, Spec]:
    return {n: spec for n in names.split()}


OBJECT_REFERENCE = _fields("kind namespace name uid apiVersion resourceVersion fieldPath", STR)

OBJECT_META = {
    **_fields("name namespace uid resourceVersion generateName selfLink", STR),
    "labels": STRMAP,
    "annotations": STRMAP,
    "generation": INT,
    "deletionGracePeriodSeconds": INT,
    "finalizers": [STR],
    **_fields("creationTimestamp deletionTimestamp managedFields ownerReferences"),
}

SERVICE = {
    "apiVersion": STR, "kind": STR, "metadata": OBJECT_META,
    "spec": {
        **_fields("type clusterIP ipFamilyPolicy loadBalancerIP loadBalancerClass externalName "
                  "externalTrafficPolicy internalTrafficPolicy sessionAffinity "
                  "trafficDistribution", STR),
        "selector": STRMAP,
        "ports": [{
            "name": STR, "protocol": STR, "port": INT, "targetPort": INT_OR_STR,
            "nodePort": INT, "appProtocol": STR,
        }],
        "clusterIPs": [STR], "ipFamilies": [STR], "externalIPs": [STR],
        "loadBalancerSourceRanges": [STR],
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": INT}},
        "healthCheckNodePort": INT,
        "publishNotReadyAddresses": BOOL,
        "allocateLoadBalancerNodePorts": BOOL,
    },
    "status": {
        "loadBalancer": {"ingress": [{"ip": STR, "hostname": STR, "ipMode": STR, "ports": ANY}]},
        "conditions": ANY,
    },
}

ENDPOINT_ADDRESS = {"ip": STR, "hostname": STR, "nodeName": STR, "targetRef": OBJECT_REFERENCE}
ENDPOINT_PORT = {"name": STR, "port": INT, "protocol": STR, "appProtocol": STR}

ENDPOINTS = {
    "apiVersion": STR, "kind": STR, "metadata": OBJECT_META,
    "subsets": [{
        "addresses": [ENDPOINT_ADDRESS],
        "notReadyAddresses": [ENDPOINT_ADDRESS],
        "ports": [ENDPOINT_PORT],
    }],
}

ENDPOINT_SLICE = {
    "apiVersion": STR, "kind": STR, "metadata": OBJECT_META,
    "addressType": STR,
    "endpoints": [{
        "addresses": [STR],
        "conditions": {"ready": BOOL, "serving": BOOL, "terminating": BOOL},
        "hostname": STR, "nodeName": STR, "zone": STR,
        "targetRef": OBJECT_REFERENCE,
        "hints": ANY, "deprecatedTopology": STRMAP,
    }],
    "ports": [ENDPOINT_PORT],
}

NAMESPACE = {
    "apiVersion": STR, "kind": STR, "metadata": OBJECT_META,
    "spec": {"finalizers": [STR]},
    "status": ANY,
}

NODE = {
    "apiVersion": STR, "kind": STR, "metadata": OBJECT_META,
    "spec": {
        "podCIDR": STR, "podCIDRs": [STR], "providerID": STR, "externalID": STR,
        "unschedulable": BOOL, "taints": ANY, "configSource": ANY,
    },
    "status": {
        "addresses": [{"type": STR, "address": STR}],
        "conditions": [{
            **_fields("type status reason message", STR),
            **_fields("lastHeartbeatTime lastTransitionTime"),
        }],
        "phase": STR,
        **_fields("capacity allocatable daemonEndpoints nodeInfo images volumesInUse "
                  "volumesAttached config runtimeHandlers features declaredFeatures"),
    },
}

CONTAINER = {
    "name": STR, "image": STR,
    "ports": [{
        "name": STR, "containerPort": INT, "protocol": STR, "hostPort": INT, "hostIP": STR,
    }],
    **_fields("command args workingDir env envFrom resources volumeMounts volumeDevices "
              "livenessProbe readinessProbe startupProbe lifecycle terminationMessagePath "
              "terminationMessagePolicy imagePullPolicy securityContext stdin stdinOnce tty "
              "resizePolicy restartPolicy restartPolicyRules"),
}

POD_SPEC = {
    "containers": [CONTAINER],
    "initContainers": [CONTAINER],
    "nodeName": STR, "hostname": STR, "subdomain": STR, "dnsPolicy": STR,
    "hostNetwork": BOOL, "enableServiceLinks": BOOL, "setHostnameAsFQDN": BOOL,
    "dnsConfig": {
        "nameservers": [STR], "searches": [STR],
        "options": [{"name": STR, "value": STR}],
    },
    **_fields("volumes ephemeralContainers restartPolicy terminationGracePeriodSeconds "
              "activeDeadlineSeconds nodeSelector serviceAccountName serviceAccount "
              "automountServiceAccountToken hostPID hostIPC shareProcessNamespace "
              "securityContext imagePullSecrets affinity schedulerName tolerations "
              "hostAliases priorityClassName priority readinessGates runtimeClassName "
              "preemptionPolicy overhead topologySpreadConstraints os hostUsers "
              "schedulingGates resourceClaims resources"),
}

POD = {
    "apiVersion": STR, "kind": STR, "metadata": OBJECT_META,
    "spec": POD_SPEC,
    "status": {
        "phase": STR, "podIP": STR, "hostIP": STR,
        "podIPs": [{"ip": STR}],
        "conditions": [{
            **_fields("type status reason message", STR),
            **_fields("lastProbeTime lastTransitionTime observedGeneration"),
        }],
        **_fields("hostIPs startTime containerStatuses initContainerStatuses "
                  "ephemeralContainerStatuses qosClass message reason nominatedNodeName "
                  "resize resourceClaimStatuses observedGeneration extendedResourceClaimStatus"),
    },
}

WORKLOAD = {
    "apiVersion": STR, "kind": STR, "metadata": OBJECT_META,
    "spec": {
        "replicas": INT,
        "selector": {"matchLabels": STRMAP, "matchExpressions": ANY},
        "template": {"metadata": OBJECT_META, "spec": POD_SPEC},
        **_fields("strategy minReadySeconds revisionHistoryLimit progressDeadlineSeconds paused"),
    },
    "status": ANY,
}

LIST = {"apiVersion": STR, "kind": STR, "metadata": ANY, "items": [ANY]}

KINDS: dict[tuple[str, str], dict[str, Spec]] = {
    ("v1", "Service"): SERVICE,
    ("v1", "Endpoints"): ENDPOINTS,
    ("v1", "Namespace"): NAMESPACE,
    ("v1", "Node"): NODE,
    ("v1", "Pod"): POD,
    ("discovery.k8s.io/v1", "EndpointSlice"): ENDPOINT_SLICE,
    ("apps/v1", "Deployment"): WORKLOAD,
    ("apps/v1", "ReplicaSet"): WORKLOAD,
    ("v1", "List"): LIST,
}

_PY_TYPES = {STR: (str,), BOOL: (bool,), NUM: (int, float)}


def check(value: Any, spec: Spec, path: str = "") -> list[FieldError]:
    """Unknown fields and wrong JSON types in ``value`` against ``spec``.

    >>> [e.message() for e in check({"spec": {"foo": 1}}, SERVICE)]
    ['spec.foo: Unknown field: strict decoding error: unknown field "spec.foo"']
    >>> [e.message() for e in check({"spec": {"ports": [{"port": "80"}]}}, SERVICE)]
    ['spec.ports[0].port: Invalid value: "80": must be of type integer']
    """
    errs: list[FieldError] = []
    _check(value, spec, path, errs)
    return errs


def _check(value: Any, spec: Spec, path: str, errs: list[FieldError]) -> None:
    if value is None or spec == ANY:
        return  # JSON null decodes to the zero value, as Go's decoder does
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            errs.append(wrong_type(path, value, "object"))
            return
        for k, v in value.items():
            sub = spec.get(k) if isinstance(k, str) else None
            p = child(path, str(k))
            if sub is None:
                errs.append(unknown_field(p))
            else:
                _check(v, sub, p, errs)
        return
    if isinstance(spec, list):
        if not isinstance(value, list):
            errs.append(wrong_type(path, value, "array"))
            return
        for i, v in enumerate(value):
            _check(v, spec[0], index(path, i), errs)
        return
    if spec == INT:
        if not isinstance(value, int) or isinstance(value, bool):
            errs.append(wrong_type(path, value, INT))
    elif spec == INT_OR_STR:
        if isinstance(value, bool) or not isinstance(value, int | str):
            errs.append(wrong_type(path, value, "integer or string"))
    elif spec == STRMAP:
        if not isinstance(value, dict):
            errs.append(wrong_type(path, value, "object"))
            return
        for k, v in value.items():
            if not isinstance(v, str):
                errs.append(wrong_type(key(path, str(k)), v, STR))
    elif not isinstance(value, _PY_TYPES[spec]) or (spec == NUM and isinstance(value, bool)):
        errs.append(wrong_type(path, value, spec))
