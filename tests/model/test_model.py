"""Value types of sim.model: immutability, defaults, helpers."""

from __future__ import annotations

import dataclasses

import pytest

from sim.model import (
    ClusterState,
    FrozenDict,
    KubeProxyConfig,
    Node,
    NodeAddress,
    Service,
    ServicePort,
)
from sim.model.errors import FieldError, ValidationError
from sim.model.ip import ip_in_cidr, join_host_port


def test_frozen_dict_is_hashable_and_order_insensitive():
    """Two FrozenDicts with the same items hash and compare equal whatever the input order."""
    a = FrozenDict({"x": "1", "y": "2"})
    b = FrozenDict({"y": "2", "x": "1"})
    assert a == b and hash(a) == hash(b)
    assert list(a) == ["x", "y"]


def test_empty_selector_matches_everything_and_selector_requires_all_keys():
    """A selector matches labels only when every key/value is present."""
    assert FrozenDict().matches({"a": "b"})
    assert not FrozenDict({"app": "web", "tier": "fe"}).matches({"app": "web"})


def test_model_objects_are_frozen():
    """Objects cannot be mutated after construction (snapshots are shared between nodes)."""
    svc = Service(namespace="ns", name="s", ports=(ServicePort(port=80),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        svc.name = "t"  # type: ignore[misc]


@pytest.mark.parametrize(
    "bit,fmt,expected",
    [(14, "%#08x", "0x00004000"), (14, "hex", "0x4000"), (0, "%#08x", "0x00000001")],
)
def test_masquerade_mark_formatting(bit, fmt, expected):
    """The mark string follows Go's %#08x (kube-proxy) or plain hex (upstream unit tests)."""
    assert KubeProxyConfig(masquerade_bit=bit, mark_format=fmt).masquerade_mark == expected


def test_node_ips_put_internal_before_external_and_skip_hostnames():
    """Node.ips lists InternalIP then ExternalIP addresses; Hostname entries are not IPs."""
    node = Node(
        name="n1",
        addresses=(
            NodeAddress("Hostname", "n1"),
            NodeAddress("ExternalIP", "203.0.113.5"),
            NodeAddress("InternalIP", "192.168.0.2"),
        ),
    )
    assert node.ips == ("192.168.0.2", "203.0.113.5")
    assert node.internal_ip == "192.168.0.2"


def test_cluster_state_indexes():
    """ClusterState looks services up by namespace/name."""
    svc = Service(namespace="ns1", name="svc1", cluster_ip="10.96.0.5")
    st = ClusterState(services=(svc,))
    assert st.service("ns1", "svc1") is svc
    assert st.service("ns1", "nope") is None


def test_ip_helpers():
    """Families never match each other; IPv6 host:port is bracketed like net.JoinHostPort."""
    assert not ip_in_cidr("fd00::1", "10.0.0.0/8")
    assert join_host_port("fd00::1", 53) == "[fd00::1]:53"


def test_field_error_renders_like_the_apiserver():
    """FieldError text matches field.ErrorList formatting, prefixed by file and line."""
    err = FieldError(
        field="spec.ports[0].nodePort", kind="Invalid value", value=80, has_value=True,
        detail="provided port is not in the valid range. The range of valid ports is 30000-32767",
        file="bad.yaml", line=12,
    )
    assert str(err) == (
        "bad.yaml:12: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the "
        "valid range. The range of valid ports is 30000-32767"
    )
    assert str(ValidationError([err])) == str(err)
