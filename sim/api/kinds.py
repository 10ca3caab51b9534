"""Which ``apiVersion``/``kind`` pairs exist in Kubernetes, which are modelled here, and what
replaced the ones that were removed.

The apiserver (and ``kubectl apply``) refuses an object whose kind is not served in the
version given: ``no matches for kind "Deployment" in version "extensions/v1beta1"``. A
scenario that holds such an object is refused the same way (with the replacement API named),
rather than warned about and left out, which would simulate a cluster without it.

Kinds that exist in Kubernetes but play no part in Service networking (ConfigMap, Secret,
ServiceAccount, RBAC, storage...) and custom resources (any API group that is not one of
Kubernetes' own, as a cluster dump from ``kubectl get -A -o yaml`` holds them) are skipped,
with one summary line per scenario.

Sources: the served versions of Kubernetes 1.31 (``kubectl api-resources``) and the
deprecated-API migration guide (kubernetes.io/docs/reference/using-api/deprecation-guide).
"""

from __future__ import annotations

import difflib

# Kinds served by Kubernetes that kube-netsim does not model, by apiVersion.
SERVED_UNMODELLED: dict[str, frozenset[str]] = {k: frozenset(v.split()) for k, v in {
    "v1": "ConfigMap Secret ServiceAccount PersistentVolume PersistentVolumeClaim ResourceQuota "
          "LimitRange Event ReplicationController PodTemplate Binding ComponentStatus",
    "apps/v1": "StatefulSet DaemonSet ControllerRevision",
    "batch/v1": "Job CronJob",
    "networking.k8s.io/v1": "Ingress IngressClass NetworkPolicy",
    "networking.k8s.io/v1beta1": "IPAddress ServiceCIDR",
    "policy/v1": "PodDisruptionBudget",
    "rbac.authorization.k8s.io/v1": "Role ClusterRole RoleBinding ClusterRoleBinding",
    "storage.k8s.io/v1": "StorageClass CSIDriver CSINode CSIStorageCapacity VolumeAttachment",
    "autoscaling/v1": "HorizontalPodAutoscaler",
    "autoscaling/v2": "HorizontalPodAutoscaler",
    "apiextensions.k8s.io/v1": "CustomResourceDefinition",
    "admissionregistration.k8s.io/v1": "MutatingWebhookConfiguration ValidatingWebhookConfiguration "
                                       "ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding",
    "coordination.k8s.io/v1": "Lease",
    "scheduling.k8s.io/v1": "PriorityClass",
    "node.k8s.io/v1": "RuntimeClass",
    "certificates.k8s.io/v1": "CertificateSigningRequest",
    "events.k8s.io/v1": "Event",
    "flowcontrol.apiserver.k8s.io/v1": "FlowSchema PriorityLevelConfiguration",
    "apiregistration.k8s.io/v1": "APIService",
}.items()}

# Kubernetes' own API groups ("" is the core group): a kind or version unknown in one of them
# is an error; any other group is a custom resource.
BUILTIN_GROUPS = frozenset({
    "", "apps", "batch", "discovery.k8s.io", "networking.k8s.io", "policy", "extensions",
    "rbac.authorization.k8s.io", "storage.k8s.io", "autoscaling", "apiextensions.k8s.io",
    "admissionregistration.k8s.io", "coordination.k8s.io", "scheduling.k8s.io", "node.k8s.io",
    "certificates.k8s.io", "events.k8s.io", "flowcontrol.apiserver.k8s.io",
    "apiregistration.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
    "internal.apiserver.k8s.io", "resource.k8s.io", "storagemigration.k8s.io",
})

_WORKLOADS = "Deployment DaemonSet ReplicaSet StatefulSet"
# (apiVersion, kind) removed from Kubernetes -> (the release that removed it, its replacement).
REMOVED: dict[tuple[str, str], tuple[str, str]] = {}
for _v, _kinds, _rel, _new in (
        ("extensions/v1beta1", "Deployment DaemonSet ReplicaSet", "1.16", "apps/v1"),
        ("apps/v1beta1", _WORKLOADS, "1.16", "apps/v1"),
        ("apps/v1beta2", _WORKLOADS, "1.16", "apps/v1"),
        ("extensions/v1beta1", "NetworkPolicy", "1.16", "networking.k8s.io/v1"),
        ("extensions/v1beta1", "Ingress", "1.22", "networking.k8s.io/v1"),
        ("networking.k8s.io/v1beta1", "Ingress IngressClass", "1.22", "networking.k8s.io/v1"),
        ("discovery.k8s.io/v1beta1", "EndpointSlice", "1.25", "discovery.k8s.io/v1"),
        ("batch/v1beta1", "CronJob", "1.25", "batch/v1"),
        ("policy/v1beta1", "PodDisruptionBudget", "1.25", "policy/v1"),
        ("autoscaling/v2beta1", "HorizontalPodAutoscaler", "1.25", "autoscaling/v2"),
        ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.26", "autoscaling/v2"),
        ("rbac.authorization.k8s.io/v1beta1", "Role ClusterRole RoleBinding ClusterRoleBinding",
         "1.22", "rbac.authorization.k8s.io/v1"),
        ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", "1.22", "apiextensions.k8s.io/v1"),
        ("storage.k8s.io/v1beta1", "StorageClass CSIDriver CSINode VolumeAttachment", "1.22",
         "storage.k8s.io/v1"),
        ("coordination.k8s.io/v1beta1", "Lease", "1.22", "coordination.k8s.io/v1"),
        ("scheduling.k8s.io/v1beta1", "PriorityClass", "1.22", "scheduling.k8s.io/v1"),
        ("certificates.k8s.io/v1beta1", "CertificateSigningRequest", "1.22", "certificates.k8s.io/v1"),
        ("admissionregistration.k8s.io/v1beta1",
         "MutatingWebhookConfiguration ValidatingWebhookConfiguration", "1.22",
         "admissionregistration.k8s.io/v1"),
):
    for _k in _kinds.split():
        REMOVED[(_v, _k)] = (_rel, _new)
REMOVED[("extensions/v1beta1", "PodSecurityPolicy")] = ("1.25", "")
REMOVED[("policy/v1beta1", "PodSecurityPolicy")] = ("1.25", "")


def group_of(api_version: str) -> str:
    """The API group of an apiVersion (``""`` for the core group ``v1``).

    >>> group_of("v1"), group_of("apps/v1"), group_of("crd.projectcalico.org/v1")
    ('', 'apps', 'crd.projectcalico.org')
    """
    return api_version.rpartition("/")[0]


def no_match_detail(api_version: str, kind: str, modelled: set[tuple[str, str]]) -> str | None:
    """Why ``kind`` in ``api_version`` does not exist (kubectl's "no matches for kind" and the
    replacement API), or ``None`` when it exists or is a custom resource.

    >>> no_match_detail("extensions/v1beta1", "Deployment", set())
    'no matches for kind "Deployment" in version "extensions/v1beta1": removed in Kubernetes 1.16, use apiVersion: apps/v1'
    >>> no_match_detail("crd.projectcalico.org/v1", "IPPool", set()) is None
    True
    """
    served = {(v, k) for v, kinds in SERVED_UNMODELLED.items() for k in kinds} | modelled
    if (api_version, kind) in served or group_of(api_version) not in BUILTIN_GROUPS:
        return None
    base = f'no matches for kind "{kind}" in version "{api_version}"'
    if (api_version, kind) in REMOVED:
        release, new = REMOVED[(api_version, kind)]
        return base + (f": removed in Kubernetes {release}, use apiVersion: {new}" if new
                       else f": removed in Kubernetes {release} without a replacement")
    same_kind = sorted(v for v, k in served if k == kind)
    if same_kind:
        return base + f": {kind} is served as apiVersion: {', '.join(same_kind)}"
    group = group_of(api_version)
    in_group = sorted({k for v, k in served if group_of(v) == group})
    close = difflib.get_close_matches(kind, in_group, n=1)
    if close:
        return base + f': did you mean "{close[0]}"?'
    return base


def skipped_summary(skipped: dict[str, int]) -> str:
    """The one line that lists the objects skipped because their kind is not modelled.

    >>> skipped_summary({"ConfigMap (v1)": 2, "IPPool (crd.projectcalico.org/v1)": 1})
    'skipped 3 objects whose kinds kube-netsim does not model: ConfigMap (v1) x2, IPPool (crd.projectcalico.org/v1) x1'
    """
    total = sum(skipped.values())
    kinds = ", ".join(f"{k} x{n}" for k, n in sorted(skipped.items()))
    noun = "object whose kind" if total == 1 else "objects whose kinds"
    return f"skipped {total} {noun} kube-netsim does not model: {kinds}"
