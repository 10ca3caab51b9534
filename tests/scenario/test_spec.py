"""Loading scenario files: schema, line numbers, errors, configuration mapping, hashing."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from sim.model.errors import SimError, ValidationError
from sim.scenario.spec import SCHEMA_PATH, load_scenario, parse_duration, read_documents
from tests.conftest import SCENARIOS

SHIPPED = sorted(SCENARIOS.glob("seed/*.yaml")) + sorted(SCENARIOS.glob("invalid/*.yaml"))
# Invalid variants whose recorded errors are schema errors say so in a comment line.
SCHEMA_VALID = [p for p in SHIPPED if "\n# schema-invalid:" not in p.read_text()]


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


MINIMAL = textwrap.dedent("""\
    apiVersion: kube-netsim/v1
    kind: Scenario
    metadata:
      name: t
    spec:
      objects:
      - apiVersion: v1
        kind: Service
        metadata:
          name: my-service
        spec:
          ports:
          - port: 80
    """)


def scenario(tmp_path: Path, spec_extra: str = "", text: str = MINIMAL) -> Path:
    """MINIMAL (or ``text``) with ``spec_extra`` (YAML at spec level) appended."""
    return write(tmp_path, text + textwrap.indent(textwrap.dedent(spec_extra), "  "))


@pytest.mark.parametrize("path", SCHEMA_VALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_scenario_matches_json_schema(path):
    """Every shipped scenario validates against the shipped JSON Schema (as an editor would),
    except the invalid variants marked ``# schema-invalid:``, refused by the schema on purpose."""
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(path.read_text()))


def test_schema_is_a_valid_draft_2020_12_schema():
    """The shipped schema itself is well-formed."""
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("seed/*.yaml")), ids=lambda p: p.name)
def test_seed_scenario_is_accepted(path):
    """Every seed scenario is accepted by the apiserver with no error or warning."""
    errors, warnings = load_scenario(path).check()
    assert (errors, warnings) == ([], [])


def test_minimal_scenario_defaults(tmp_path):
    """Without spec.cluster/kubeProxy the upstream defaults apply."""
    s = load_scenario(write(tmp_path, MINIMAL))
    assert (s.name, s.seed, s.cluster.service_cidrs, s.cluster.node_port_range, s.cluster.cluster_domain) == (
        "t", 0, ("10.96.0.0/12",), (30000, 32767), "cluster.local")
    assert (s.kube_proxy.mode, s.kube_proxy.masquerade_bit, s.kube_proxy.min_sync_period_s,
            s.kube_proxy.sync_period_s) == ("iptables", 14, 1.0, 30.0)


def test_kube_proxy_fields_mapped(tmp_path):
    """KubeProxyConfiguration fields map onto KubeProxyConfig with units in seconds."""
    s = load_scenario(scenario(tmp_path, """\
      kubeProxy:
        mode: iptables
        clusterCIDR: 10.244.0.0/16
        nodePortAddresses: [192.168.49.0/24]
        detectLocalMode: NodeCIDR
        iptables: {masqueradeAll: true, masqueradeBit: 15, minSyncPeriod: 250ms, syncPeriod: 1m0s, localhostNodePorts: false}
        conntrack: {maxPerCore: 0, min: 1000, tcpEstablishedTimeout: 1h0m0s, tcpCloseWaitTimeout: 30s, udpTimeout: 10s}
    """))
    k = s.kube_proxy
    assert (k.cluster_cidr, k.node_port_addresses, k.detect_local_mode) == (
        "10.244.0.0/16", ("192.168.49.0/24",), "NodeCIDR")
    assert (k.masquerade_all, k.masquerade_bit, k.min_sync_period_s, k.sync_period_s, k.localhost_node_ports) == (
        True, 15, 0.25, 60.0, False)
    c = k.conntrack
    assert (c.max_per_core, c.min, c.tcp_established_timeout_s, c.tcp_close_wait_timeout_s, c.udp_timeout_s,
            c.udp_stream_timeout_s) == (0, 1000, 3600.0, 30.0, 10.0, 120.0)


def test_cluster_fields_mapped(tmp_path):
    """spec.cluster maps onto ClusterConfig (dual-stack CIDR, port range, gates, pool)."""
    s = load_scenario(scenario(tmp_path, """\
      cluster:
        serviceCIDR: 10.0.0.0/16,fd00:10::/108
        nodePortRange: 31000+99
        clusterDomain: example.internal
        featureGates: {SCTPSupport: true}
        loadBalancerPool: [198.51.100.0/24]
        dnsServiceIP: 10.0.0.10
    """))
    c = s.cluster
    assert (c.service_cidrs, c.node_port_range, c.cluster_domain, c.gate("SCTPSupport"),
            c.load_balancer_pool, c.dns_service_ip) == (
        ("10.0.0.0/16", "fd00:10::/108"), (31000, 31099), "example.internal", True,
        ("198.51.100.0/24",), "10.0.0.10")


def test_run_sections_passed_through(tmp_path):
    """network, traffic, events, expect and dns are kept as written."""
    s = load_scenario(scenario(tmp_path, """\
      traffic: {durationSeconds: 5, flows: []}
      events: [{at: 1, action: nodeDown, node: n1}]
      expect: [{type: programmingLatency, p99: 2}]
      network: {podLink: {latencySeconds: 0.001}}
      dns: {ttl: 30}
    """))
    assert (s.traffic, s.events, s.expect, s.network, s.dns) == (
        {"durationSeconds": 5, "flows": []}, [{"at": 1, "action": "nodeDown", "node": "n1"}],
        [{"type": "programmingLatency", "p99": 2}], {"podLink": {"latencySeconds": 0.001}}, {"ttl": 30})


def test_manifest_lines_recorded(tmp_path):
    """Each manifest keeps the file and line where it starts."""
    s = load_scenario(write(tmp_path, MINIMAL))
    assert s.manifests[0][1] == (str(tmp_path / "scenario.yaml"), 7)


def test_manifest_files_multi_document_and_json(tmp_path):
    """spec.manifests reads multi-document YAML and JSON files, after spec.objects, in order."""
    write(tmp_path, "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
                    "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n", "ns.yaml")
    (tmp_path / "c.json").write_text(json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "c"}}))
    s = load_scenario(scenario(tmp_path, "manifests: [ns.yaml, c.json]\n"))
    assert [(m["metadata"]["name"], src[1]) for m, src in s.manifests] == [
        ("my-service", 7), ("a", 1), ("b", 5), ("c", 1)]


def test_list_items_get_their_own_lines(tmp_path):
    """A kind: List is expanded; each item keeps its own line."""
    write(tmp_path, """\
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: Namespace
          metadata: {name: a}
        - apiVersion: v1
          kind: Namespace
          metadata: {name: b}
        """, "list.yaml")
    s = load_scenario(scenario(tmp_path, "manifests: [list.yaml]\n"))
    assert [src[1] for _, src in s.manifests[1:]] == [4, 7]


def test_error_points_at_the_field_line(tmp_path):
    """An apiserver error inside a manifest names the line of the offending field."""
    write(tmp_path, """\
        apiVersion: v1
        kind: Service
        metadata:
          name: web
        spec:
          type: NodePort
          ports:
          - port: 80
            nodePort: 80
        """, "svc.yaml")
    s = load_scenario(scenario(tmp_path, "manifests: [svc.yaml]\n"))
    with pytest.raises(ValidationError) as info:
        s.state()
    assert str(info.value) == (
        f"{tmp_path / 'svc.yaml'}:9: Service default/web: spec.ports[0].nodePort: Invalid value: 80: "
        "provided port is not in the valid range. The range of valid ports is 30000-32767")


def test_malformed_yaml_names_file_and_line(tmp_path):
    """Malformed YAML is a SimError with file, line and column."""
    p = write(tmp_path, "apiVersion: kube-netsim/v1\nkind: Scenario\nmetadata: {name: t\nspec: {}\n")
    with pytest.raises(SimError, match=r"scenario\.yaml:4:\d+: malformed YAML"):
        load_scenario(p)


def test_yaml_is_loaded_safely(tmp_path):
    """Python-object tags are refused (safe loading only)."""
    p = write(tmp_path, "apiVersion: kube-netsim/v1\nkind: Scenario\nmetadata: {name: t}\n"
                        "spec: {seed: !!python/object/apply:os.getpid []}\n")
    with pytest.raises(SimError, match=r"scenario\.yaml:4: malformed YAML: could not determine a constructor"):
        load_scenario(p)


def test_missing_file(tmp_path):
    """A missing scenario file is a clear error."""
    with pytest.raises(SimError, match=r"nope\.yaml: no such file"):
        load_scenario(tmp_path / "nope.yaml")


def test_missing_manifest_file_names_scenario_line(tmp_path):
    """A missing manifest file names the scenario line that refers to it."""
    p = scenario(tmp_path, "manifests: [gone.yaml]\n")
    with pytest.raises(SimError, match=r"scenario\.yaml:14: spec\.manifests\[0\]: .*gone\.yaml: no such file"):
        load_scenario(p)


def test_wrong_type_names_field_and_line(tmp_path):
    """A value of the wrong type is reported with its path and line."""
    p = scenario(tmp_path, "kubeProxy:\n  iptables:\n    masqueradeBit: high\n")
    with pytest.raises(ValidationError) as info:
        load_scenario(p)
    (e,) = info.value.errors
    assert (e.field, e.line, e.message()) == ("spec.kubeProxy.iptables.masqueradeBit", 16,
                                              'spec.kubeProxy.iptables.masqueradeBit: Invalid value: "high": must be an integer')


def test_unknown_spec_field_refused(tmp_path):
    """An unknown field of the scenario format is refused with its line."""
    p = scenario(tmp_path, "trafic: {}\n")
    with pytest.raises(ValidationError) as info:
        load_scenario(p)
    assert [str(e) for e in info.value.errors] == [
        f'{p}:14: spec.trafic: Unknown field: strict decoding error: unknown field "spec.trafic"']


def test_missing_metadata_name(tmp_path):
    """metadata.name is required."""
    p = write(tmp_path, "apiVersion: kube-netsim/v1\nkind: Scenario\nmetadata: {}\nspec: {}\n")
    with pytest.raises(ValidationError) as info:
        load_scenario(p)
    assert [e.message() for e in info.value.errors] == ["metadata.name: Required value"]


def test_wrong_api_version(tmp_path):
    """apiVersion must be kube-netsim/v1."""
    p = write(tmp_path, MINIMAL.replace("kube-netsim/v1", "kube-netsim/v2"))
    with pytest.raises(ValidationError) as info:
        load_scenario(p)
    assert info.value.errors[0].field == "apiVersion"


def test_bad_duration(tmp_path):
    """Durations must be Go durations."""
    p = scenario(tmp_path, "kubeProxy:\n  iptables:\n    syncPeriod: 30 seconds\n")
    with pytest.raises(ValidationError, match="spec.kubeProxy.iptables.syncPeriod"):
        load_scenario(p)


def test_bad_service_cidr(tmp_path):
    """serviceCIDR must parse; the message names the field and line."""
    p = scenario(tmp_path, "cluster:\n  serviceCIDR: 10.96.0.0/40\n")
    with pytest.raises(ValidationError) as info:
        load_scenario(p)
    assert (info.value.errors[0].field, info.value.errors[0].line) == ("spec.cluster.serviceCIDR", 15)


def test_bad_node_port_range(tmp_path):
    """nodePortRange must be base-max within 1-65535."""
    p = scenario(tmp_path, "cluster:\n  nodePortRange: 32767-30000\n")
    with pytest.raises(ValidationError, match="spec.cluster.nodePortRange"):
        load_scenario(p)


def test_not_a_mapping(tmp_path):
    """A scenario that is a list is refused."""
    with pytest.raises(SimError, match="a scenario must be a mapping"):
        load_scenario(write(tmp_path, "- a\n- b\n"))


def test_sha256_covers_manifest_files(tmp_path):
    """The scenario hash changes when a referenced manifest file changes."""
    m = write(tmp_path, "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n", "ns.yaml")
    p = scenario(tmp_path, "manifests: [ns.yaml]\n")
    before = load_scenario(p).sha256
    m.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n")
    assert load_scenario(p).sha256 != before


def test_api_seed_override(tmp_path):
    """api(seed) overrides spec.seed for allocation."""
    s = load_scenario(write(tmp_path, MINIMAL))
    assert s.state(1).services[0].cluster_ip != s.state(2).services[0].cluster_ip


def test_check_collects_errors_of_every_object(tmp_path):
    """check() reports every refused object, not only the first."""
    text = MINIMAL.replace("- port: 80", "- port: 0\n        targetPort: 1") + textwrap.indent(textwrap.dedent("""\
      - apiVersion: v1
        kind: Service
        metadata:
          name: other
        spec:
          ports: []
    """), "  ")
    errors, _ = load_scenario(write(tmp_path, text)).check()
    assert [(e.object_ref, e.line) for e in errors] == [
        ("Service default/my-service", 13), ("Service default/other", 20)]


def test_read_documents_skips_empty_documents(tmp_path):
    """Empty documents (a trailing ---) are ignored."""
    p = write(tmp_path, "a: 1\n---\n---\nb: 2\n---\n", "m.yaml")
    assert [d for d, _ in read_documents(p)] == [{"a": 1}, {"b": 2}]


def test_yaml_values_match_safe_load(tmp_path):
    """The fast loader gives exactly what yaml.safe_load gives."""
    text = "a: [0755, 0x1f, 10, 1_000, -3, 0, 3.5, ~, yes, '7', null, true, 2001-12-14, '']\n"
    p = write(tmp_path, text, "m.yaml")
    assert read_documents(p)[0][0] == yaml.safe_load(text)


@pytest.mark.parametrize("text,seconds", [("1s", 1.0), ("1m0s", 60.0), ("24h0m0s", 86400.0),
                                          ("1.5h", 5400.0), ("300ms", 0.3), ("0", 0.0)])
def test_parse_duration(text, seconds):
    """Go durations parse to seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


def test_schema_invalid_variants_fail_the_json_schema():
    """The variants marked ``# schema-invalid:`` really are refused by the schema alone."""
    schema = json.loads(SCHEMA_PATH.read_text())
    marked = [p for p in SHIPPED if p not in SCHEMA_VALID]
    assert marked
    for p in marked:
        assert not jsonschema.Draft202012Validator(schema).is_valid(yaml.safe_load(p.read_text())), p


def test_pending_load_balancer_gets_no_load_balancer_rules(tmp_path):
    """When the pool is exhausted the second LoadBalancer Service has no ingress and kube-proxy
    writes rules for the load-balancer address only for the first one."""
    from sim.kubeproxy.iptables import compile_rules

    svc = ("  - {apiVersion: v1, kind: Service, metadata: {name: %s}, "
           "spec: {type: LoadBalancer, selector: {app: a}, ports: [{port: 80}]}}\n")
    p = write(tmp_path, "apiVersion: kube-netsim/v1\nkind: Scenario\nmetadata: {name: t}\nspec:\n"
              "  cluster: {loadBalancerPool: [203.0.113.7/32]}\n  objects:\n"
              "  - apiVersion: v1\n    kind: Node\n    metadata: {name: n1}\n"
              "    spec: {podCIDR: 10.244.1.0/24}\n"
              "    status: {addresses: [{type: InternalIP, address: 192.168.1.10}]}\n"
              + svc % "first" + svc % "second")
    state = load_scenario(p).state()
    ingress = {s.name: [i.ip for i in s.load_balancer_ingress] for s in state.services}
    assert ingress == {"first": ["203.0.113.7"], "second": []}
    text = compile_rules(state, "n1").render()
    lb_rules = [line for line in text.splitlines() if "-d 203.0.113.7" in line]
    assert lb_rules and all('"default/first' in line for line in lb_rules)
    second = [line for line in text.splitlines() if '"default/second' in line]
    assert second and not any("203.0.113." in line for line in second)


def test_non_utf8_scenario_names_line_and_offset(tmp_path):
    """A scenario with a byte that is not UTF-8 is one message with its line and byte offset."""
    p = tmp_path / "s.yaml"
    data = b"apiVersion: kube-netsim/v1\nkind: Scenario\nmetadata: {name: x}\nspec: {seed: 1}\n# caf\xe9\n"
    p.write_bytes(data)
    with pytest.raises(SimError) as info:
        load_scenario(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}:5: malformed YAML: at byte offset ") and "\n" not in msg
    assert msg.endswith("(the file must be UTF-8 text)")


def test_seed_beyond_signed_64_bits_refused(tmp_path):
    """spec.seed above 2^63-1 (what `run` stores) is refused by the schema with its line."""
    p = scenario(tmp_path, "seed: 99999999999999999999\n")
    with pytest.raises(ValidationError) as info:
        load_scenario(p)
    assert [e.message() for e in info.value.errors] == [
        "spec.seed: Invalid value: 99999999999999999999: must be less than or equal to 9223372036854775807"]
