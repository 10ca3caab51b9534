"""``kube-netsim show``: Services and EndpointSlices like ``kubectl get svc,endpointslices -o wide``."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.cli import main
from sim.commands.show import external_ip, ports, slice_endpoints
from sim.model.objects import (
    Endpoint,
    EndpointSlice,
    LoadBalancerIngress,
    Service,
    ServicePort,
    ServiceType,
)

SEED = Path(__file__).resolve().parents[2] / "scenarios" / "seed"


def rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if line.strip()]


def test_show_loadbalancer_row(capsys):
    """The LoadBalancer seed shows its chosen IP, ingress IP and port:nodePort."""
    assert main(["show", str(SEED / "loadbalancer.yaml")]) == 0
    assert ["default", "service/my-service", "LoadBalancer", "10.0.171.239", "146.148.47.155",
            "80:30061/TCP", "app=MyApp"] in rows(capsys.readouterr().out)


def test_show_nodeport_row(capsys):
    """The NodePort seed shows 80:30036/TCP."""
    main(["show", str(SEED / "nodeport.yaml")])
    svc = [r for r in rows(capsys.readouterr().out) if r[1:2] == ["service/my-nodeport-service"]]
    assert svc[0][2] == "NodePort" and svc[0][5] == "80:30036/TCP"


def test_show_external_name_row(capsys):
    """An ExternalName Service shows its CNAME target and no cluster IP."""
    main(["show", str(SEED / "externalname.yaml")])
    assert ["prod", "service/my-service", "ExternalName", "<none>", "my.database.example.com", "<none>",
            "<none>"] in rows(capsys.readouterr().out)


def test_show_mirrored_endpoints(capsys):
    """The selector-less seed shows the mirrored slice with 1.2.3.4 on port 9376."""
    main(["show", str(SEED / "service-without-selector.yaml")])
    slice_rows = [r for r in rows(capsys.readouterr().out) if r[1].startswith("endpointslice")]
    assert [r[2:] for r in slice_rows] == [["my-service", "IPv4", "9376", "1.2.3.4"]]


def test_show_endpoint_rows_have_conditions_and_node(capsys):
    """Each endpoint row shows its conditions, node and zone."""
    main(["show", str(SEED / "service-with-selector.yaml")])
    ep_rows = [r for r in rows(capsys.readouterr().out) if r[2:3] == ["10.244.1.5"]]
    assert ep_rows[0][3:] == ["true", "true", "false", "node-1", "zone-a", "<none>", "Pod/myapp-1"]


def test_show_invalid_scenario_fails(capsys):
    """show refuses a scenario the apiserver refuses (exit 1, message on stderr)."""
    assert main(["show", str(SEED.parent / "invalid" / "nodeport-80.yaml")]) == 1
    assert "provided port is not in the valid range" in capsys.readouterr().err


@pytest.mark.parametrize("svc,expected", [
    (Service("d", "a", ServiceType.LOAD_BALANCER), "<pending>"),
    (Service("d", "a", ServiceType.LOAD_BALANCER, load_balancer_ingress=(LoadBalancerIngress(ip="1.1.1.1"),),
             external_ips=("2.2.2.2",)), "1.1.1.1,2.2.2.2"),
    (Service("d", "a", external_ips=("80.11.12.10",)), "80.11.12.10"),
    (Service("d", "a"), "<none>"),
])
def test_external_ip_column(svc, expected):
    """EXTERNAL-IP follows kubectl: ingress then externalIPs, <pending> for an LB without any."""
    assert external_ip(svc) == expected


def test_ports_column():
    """PORT(S) joins port[:nodePort]/PROTO with commas."""
    svc = Service("d", "a", ports=(ServicePort(80, node_port=30036), ServicePort(443, name="https")))
    assert ports(svc) == "80:30036/TCP,443/TCP"


def test_slice_endpoints_truncated_after_three():
    """ENDPOINTS lists three addresses then '+ N more...'."""
    sl = EndpointSlice("d", "s", "a", endpoints=tuple(Endpoint((f"10.0.0.{i}",)) for i in range(5)))
    assert slice_endpoints(sl) == "10.0.0.0,10.0.0.1,10.0.0.2 + 2 more..."


def test_show_pending_when_load_balancer_pool_is_exhausted(tmp_path, capsys):
    """A LoadBalancer Service the pool cannot serve is listed with EXTERNAL-IP <pending>; the
    one served first keeps its address."""
    svc = ("  - {apiVersion: v1, kind: Service, metadata: {name: %s}, "
           "spec: {type: LoadBalancer, ports: [{port: 80}]}}\n")
    p = tmp_path / "s.yaml"
    p.write_text("apiVersion: kube-netsim/v1\nkind: Scenario\nmetadata: {name: s}\nspec:\n"
                 "  cluster: {loadBalancerPool: [203.0.113.7/32]}\n  objects:\n"
                 + svc % "first" + svc % "second")
    assert main(["show", str(p)]) == 0
    external = {r[1]: r[4] for r in rows(capsys.readouterr().out) if r[0] == "default"
                and r[1].startswith("service/")}
    assert external == {"service/first": "203.0.113.7", "service/second": "<pending>"}
