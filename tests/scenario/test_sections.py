"""Checking spec.network / traffic / events / expect: defaults, expansion, error messages."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from sim.kubeproxy.modes import BUILT_MODES
from sim.model.errors import SimError
from sim.scenario.sections import (
    check_runnable,
    parse_events,
    parse_expect,
    parse_network,
    parse_plan,
    parse_traffic,
)
from sim.scenario.spec import load_scenario
from sim.world.params import NetworkParams
from sim.world.workload import AddressTarget, ServiceTarget

NODES = ("n1", "n2")


def _flow(**kw):
    base = {"name": "f", "from": {"pod": "default/c"}, "to": {"address": "10.0.0.1:80"}}
    base.update(kw)
    return {"durationSeconds": 5, "flows": [base]}


def test_empty_network_gives_the_documented_defaults():
    """No spec.network: NetworkParams() defaults."""
    assert parse_network(None) == NetworkParams()


def test_network_overrides_are_read_in_camel_case():
    """latencySeconds/bandwidthBps, external hosts with ports, routes, control-plane delays."""
    net = parse_network({"nodeLink": {"latencySeconds": 0.001},
                         "externalHosts": [{"name": "ext", "ip": "203.0.113.9",
                                            "listen": [{"port": 9376}]}],
                         "routes": [{"cidr": "198.51.100.0/24", "via": "n1"}],
                         "controlPlane": {"watchDelaySeconds": 0.5}})
    assert net.node_link.latency_s == 0.001
    assert net.node_link.bandwidth_bps == NetworkParams().node_link.bandwidth_bps
    assert net.external_hosts[0].listen == (("tcp", 9376),)
    assert net.routes[0].via == "n1"
    assert net.control_plane.watch_delay_s == 0.5


def test_traffic_defaults_and_address_target():
    """protocol TCP, rate 10/s, constant arrivals, 1 s timeout; ip:port parsed."""
    duration, (f,) = parse_traffic(_flow(), NODES)
    assert duration == 5
    assert (f.proto, f.rate_per_s, f.arrival, f.connect_timeout_s) == ("tcp", 10.0, "constant", 1.0)
    assert f.target == AddressTarget("10.0.0.1", 80)


def test_nodeport_star_expands_to_one_flow_per_node():
    """via: nodePort with node "*" gives flows <name>@<node> for every node."""
    _, flows = parse_traffic(_flow(to={"service": "ns/web", "port": 80, "via": "nodePort",
                                       "node": "*"}), NODES)
    assert [f.name for f in flows] == ["f@n1", "f@n2"]
    assert flows[1].target == ServiceTarget("ns", "web", 80, "nodePort", "n2")


def test_loader_tuple_form_of_traffic_is_accepted():
    """The loader keeps a mapping section as a one-element tuple."""
    assert parse_traffic((_flow(),), NODES)[0] == 5


@pytest.mark.parametrize("section,message", [
    (_flow(rate=-1), "x.yaml: spec.traffic.flows[0].rate: Invalid value: -1: must be > 0"),
    (_flow(protocol="ICMP"), "spec.traffic.flows[0].protocol: Unsupported value: \"ICMP\""),
    (_flow(to={"address": "10.0.0.1"}), "spec.traffic.flows[0].to.address: Invalid value: \"10.0.0.1\": must be ip:port"),
    (_flow(frm=1), "spec.traffic.flows[0].frm: Unsupported value: unknown field"),
    (_flow(to={"service": "web", "port": 80, "via": "nodePort", "node": "n9"}),
     "spec.traffic.flows[0].to.node: Not found: \"n9\""),
    ({"flows": [{"name": "f", "from": {"pod": "c"}, "to": {"address": "1.2.3.4:1"}}]},
     "spec.traffic.durationSeconds: Required value"),
])
def test_traffic_errors_name_file_and_field(section, message):
    """Bad traffic fields are SimErrors with the file and the field path."""
    with pytest.raises(SimError) as exc:
        parse_traffic(section, NODES, "x.yaml")
    assert message in str(exc.value)


def test_events_are_sorted_by_time_and_checked():
    """Events come back in time order with namespaced names."""
    evs = parse_events([{"at": 3, "action": "deletePod", "pod": "web-1"},
                        {"at": 1, "action": "scale", "kind": "Deployment", "name": "ns/web", "replicas": 2}])
    assert [(e.at_s, e.action) for e in evs] == [(1.0, "scale"), (3.0, "deletePod")]
    assert evs[1].params["pod"] == "default/web-1"


@pytest.mark.parametrize("events,message", [
    ([{"at": 1, "action": "explode"}], "spec.events[0].action: Unsupported value: \"explode\""),
    ([{"action": "nodeDown", "node": "n1"}], "spec.events[0].at: Required value"),
    ([{"at": 1, "action": "nodeDown"}], "spec.events[0].node: Required value"),
    ([{"at": 1, "action": "setPodReady", "pod": "p", "ready": "yes"}],
     "spec.events[0].ready: Invalid value: \"yes\": must be true or false"),
])
def test_event_errors_name_the_field(events, message):
    """Bad events are SimErrors naming the field path."""
    with pytest.raises(SimError) as exc:
        parse_events(events)
    assert message in str(exc.value)


def test_expectation_must_name_a_known_flow():
    """An expectation about a flow that does not exist is refused."""
    with pytest.raises(SimError, match=r"spec.expect\[0\].flow: Not found: \"nope\""):
        parse_expect([{"type": "reachable", "flow": "nope"}], ("f",))


def test_spread_needs_a_selector_and_fractions_are_bounded():
    """spread without selector, and atLeast above 1, are refused."""
    with pytest.raises(SimError, match=r"spec.expect\[0\].selector: Required value"):
        parse_expect([{"type": "spread", "flow": "f"}], ("f",))
    with pytest.raises(SimError, match=r"spec.expect\[0\].atLeast: Invalid value: 2"):
        parse_expect([{"type": "reachable", "flow": "f", "atLeast": 2}], ("f",))


def test_node_port_matrix_accepts_expanded_flows_and_checks_outcomes():
    """nodePortMatrix names the base flow; its expect keys are nodes or "*"."""
    (e,) = parse_expect([{"type": "nodePortMatrix", "flow": "np", "expect": {"*": "reachable"}}],
                        ("np@n1", "np@n2"))
    assert e.params["expect"] == {"*": "reachable"}
    with pytest.raises(SimError, match=r"expect.n1: Unsupported value: \"open\""):
        parse_expect([{"type": "nodePortMatrix", "flow": "np", "expect": {"n1": "open"}}],
                     ("np@n1",))


def test_plan_checks_routes_and_external_clients_against_the_cluster():
    """A route via an unknown node, or a flow from an unknown outside host, is refused."""
    with pytest.raises(SimError, match=r"spec.network.routes\[0\].via: Not found: \"n7\""):
        parse_plan({"routes": [{"cidr": "1.2.3.0/24", "via": "n7"}]}, None, None, None, NODES)
    with pytest.raises(SimError, match="no external host of that name"):
        parse_plan(None, _flow(**{"from": {"external": "ext"}}), None, None, NODES)


def test_events_must_name_known_nodes():
    """nodeDown on a node that does not exist is refused before the run."""
    with pytest.raises(SimError, match=r"spec.events\[0\].node: Not found: \"n9\""):
        parse_plan(None, None, [{"at": 1, "action": "nodeDown", "node": "n9"}], None, NODES)


WORLD = Path(__file__).resolve().parents[2] / "scenarios" / "world"


def _scenario(tmp_path, edit=lambda text: text):
    """scenarios/world/no-endpoints.yaml copied (with its manifests) and edited."""
    shutil.copytree(WORLD / "manifests", tmp_path / "manifests")
    path = tmp_path / "no-endpoints.yaml"
    path.write_text(edit((WORLD / "no-endpoints.yaml").read_text()))
    return load_scenario(path)


def test_shipped_scenario_is_runnable(tmp_path):
    """A scenario whose flows name existing Services has nothing to refuse."""
    assert check_runnable(_scenario(tmp_path)) == []


def test_proxy_mode_the_world_does_not_simulate_is_refused(tmp_path):
    """A mode with no compiler here (Windows' kernelspace, however the scenario was built) is an
    Unsupported value error listing the modes that are built."""
    sc = _scenario(tmp_path)
    sc = dataclasses.replace(sc, kube_proxy=dataclasses.replace(sc.kube_proxy, mode="kernelspace"))
    (e,) = check_runnable(sc)
    assert e.message() == ('spec.kubeProxy.mode: Unsupported value: "kernelspace": supported values: '
                           + ", ".join(f'"{m}"' for m in BUILT_MODES))


@pytest.mark.parametrize("seed", [-1, 2**63])
def test_seed_outside_the_signed_64_bit_range_is_refused(tmp_path, seed):
    """spec.seed must lie in [0, 2**63)."""
    sc = dataclasses.replace(_scenario(tmp_path), seed=seed)
    (e,) = check_runnable(sc)
    assert e.message() == f"spec.seed: Invalid value: {seed}: must be an integer in [0, 2^63)"


def test_flow_to_a_missing_service_is_refused_with_its_line(tmp_path):
    """to: {service: default/nope} names a Service that never exists: Not found, with the
    file and the line of the field."""
    sc = _scenario(tmp_path, lambda t: t.replace("to: {service: default/empty, port: 80}\n",
                                                 "to: {service: default/nope, port: 80}\n"))
    (e,) = check_runnable(sc)
    line = sc.path.read_text().splitlines().index("      to: {service: default/nope, port: 80}") + 1
    assert (e.field, e.kind, e.value, e.file, e.line) == (
        "spec.traffic.flows[0].to.service", "Not found", "default/nope", str(sc.path), line)


def test_flow_to_a_service_an_event_creates_is_accepted(tmp_path):
    """A Service that an apply event creates later is a valid target (unresolved until then)."""
    event = ("  events:\n  - {at: 1, action: apply, manifest: {apiVersion: v1, kind: Service, "
             "metadata: {name: later}, spec: {selector: {app: web}, ports: [{port: 80}]}}}\n")
    sc = _scenario(tmp_path, lambda t: t.replace("to: {service: default/empty, port: 80}\n",
                                                 "to: {service: default/later, port: 80}\n")
                   .replace("  expect:\n", event + "  expect:\n"))
    assert check_runnable(sc) == []


def test_flow_to_a_port_the_service_lacks_is_refused(tmp_path):
    """A port number the Service does not have is Not found on the port field."""
    sc = _scenario(tmp_path, lambda t: t.replace("to: {service: default/empty, port: 80}\n",
                                                 "to: {service: default/empty, port: 81}\n"))
    (e,) = check_runnable(sc)
    assert e.message() == ("spec.traffic.flows[0].to.port: Not found: 81: "
                           "Service default/empty has no port of that number or name")


def test_node_cpus_is_read_and_checked():
    """spec.network.nodeCPUs sets the CPUs kube-proxy scales nf_conntrack_max with; it must
    be a positive integer."""
    assert parse_network({"nodeCPUs": 16}).node_cpus == 16
    with pytest.raises(SimError, match=r"spec.network.nodeCPUs: Invalid value: 0: must be an integer >= 1"):
        parse_network({"nodeCPUs": 0})


def test_simulated_time_is_bounded_to_a_week():
    """durationSeconds and event times above one week (604800 s) are refused: the clock
    would run for hours of wall time on kube-proxy resyncs alone."""
    with pytest.raises(SimError, match=r"spec.traffic.durationSeconds: Invalid value: 1000000000000: must be at most 604800"):
        parse_traffic({"durationSeconds": 10**12}, NODES)
    assert parse_traffic({"durationSeconds": 604800}, NODES)[0] == 604800
    with pytest.raises(SimError, match=r"spec.events\[0\].at: Invalid value: 604801: must be at most 604800"):
        parse_events([{"at": 604801, "action": "nodeUp", "node": "n1"}])


def test_planned_connections_are_bounded():
    """A flow planning more than 5,000,000 connections (rate x active time, capped by count)
    is refused before the run; count keeps a high rate within bounds."""
    with pytest.raises(SimError, match=r"spec.traffic.flows: Invalid value: about 1e\+08 connections planned"):
        parse_traffic(_flow(rate=1e9, count=10**8), NODES)
    assert len(parse_traffic(_flow(rate=1e9, count=1000), NODES)[1]) == 1
