"""`kube-netsim dns SCENARIO --port N` serves the scenario's records on 127.0.0.1."""

from __future__ import annotations

import argparse
import select
import shutil
import signal
import socket
import subprocess
import sys
import textwrap

import dns.message
import dns.query
import dns.rcode
import pytest

from sim.commands import dns as dns_cmd
from sim.model.errors import SimError, ValidationError

SCENARIO = textwrap.dedent("""\
    apiVersion: kube-netsim/v1
    kind: Scenario
    metadata: {name: dns-demo}
    spec:
      dns:
        ttl: 30
        upstream: {example.com: [93.184.216.34]}
        cache: 30
      objects:
      - {apiVersion: v1, kind: Namespace, metadata: {name: prod}}
      - apiVersion: v1
        kind: Node
        metadata: {name: node-1}
        spec: {podCIDR: 10.244.1.0/24}
        status: {addresses: [{type: InternalIP, address: 192.168.49.2}]}
      - apiVersion: v1
        kind: Service
        metadata: {name: my-service, namespace: default}
        spec:
          clusterIP: 10.96.0.50
          selector: {app: MyApp}
          ports: [{name: http, port: 80, targetPort: 9376}]
      - apiVersion: v1
        kind: Service
        metadata: {name: my-service, namespace: prod}
        spec:
          type: ExternalName
          externalName: example.com
      - apiVersion: v1
        kind: Pod
        metadata: {name: web-1, namespace: default, labels: {app: MyApp}}
        spec:
          nodeName: node-1
          containers: [{name: c, image: agnhost, ports: [{containerPort: 9376}]}]
        status:
          podIP: 10.244.1.5
          conditions: [{type: Ready, status: "True"}]
      - apiVersion: v1
        kind: Pod
        metadata: {name: client, namespace: default}
        spec:
          nodeName: node-1
          containers: [{name: c, image: busybox}]
        status:
          podIP: 10.244.1.9
          conditions: [{type: Ready, status: "True"}]
    """)

CHILD = ("import argparse, sys\n"
         "from sim.commands import dns\n"
         "p = argparse.ArgumentParser(); dns.add_arguments(p)\n"
         "sys.exit(dns.run(p.parse_args(sys.argv[1:])))\n")


@pytest.fixture()
def scenario(tmp_path):
    path = tmp_path / "dns-demo.yaml"
    path.write_text(SCENARIO)
    return path


def _start(scenario, ignore_sigint: bool = False) -> tuple[subprocess.Popen, int]:
    """Start the server in a child process; its port once it says it serves (bounded wait)."""
    def no_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under nohup or `&` in a script

    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(scenario), "--port", "0",
                             "--duration", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=no_sigint if ignore_sigint else None)
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    if "serving zone cluster.local." not in line:
        _stop(proc)
        pytest.fail(f"server did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1].split()[0])


def _stop(proc: subprocess.Popen) -> int:
    """SIGTERM, then SIGKILL if it has not exited within 10 s; its exit status."""
    proc.terminate()
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise


@pytest.fixture()
def served(scenario):
    proc, port = _start(scenario)
    try:
        yield port
    finally:
        _stop(proc)


def test_sigterm_stops_the_server_cleanly_when_sigint_is_ignored(scenario):
    """Under nohup / in the background SIGINT is ignored; SIGTERM still stops the server, with
    exit status 0 and its "stopped" line (not killed by the signal)."""
    proc, _ = _start(scenario, ignore_sigint=True)
    assert _stop(proc) == 0
    assert "stopped" in proc.stderr.read()


def test_serves_scenario_records_with_scenario_ttl(served):
    """The ClusterIP service answers with the scenario's ttl (30) over UDP and TCP."""
    q = dns.message.make_query("my-service.default.svc.cluster.local.", "A")
    for fn in (dns.query.udp, dns.query.tcp):
        r = fn(q, "127.0.0.1", port=served, timeout=3)
        assert [(rr.to_text()) for rr in r.answer] == [
            "my-service.default.svc.cluster.local. 30 IN A 10.96.0.50"]


def test_external_name_resolved_from_upstream_table(served):
    """prod/my-service is a CNAME to example.com, followed by the upstream table's address."""
    q = dns.message.make_query("my-service.prod.svc.cluster.local.", "A")
    r = dns.query.udp(q, "127.0.0.1", port=served, timeout=3)
    assert [rr.to_text() for rr in r.answer] == [
        "my-service.prod.svc.cluster.local. 30 IN CNAME example.com.",
        "example.com. 30 IN A 93.184.216.34"]


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig not installed (dnsutils)")
def test_dig_sees_endpoint_srv(served):
    """dig SRV of the named port gets 0 100 80 my-service.default.svc.cluster.local."""
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(served), "+short", "+time=2",
                          "_http._tcp.my-service.default.svc.cluster.local", "SRV"],
                         capture_output=True, text=True, timeout=20, check=True).stdout
    assert out.split("\n")[0] == "0 100 80 my-service.default.svc.cluster.local."


def test_nxdomain_for_unknown_name(served):
    """An unknown service is NXDOMAIN."""
    q = dns.message.make_query("nope.default.svc.cluster.local.", "A")
    assert dns.query.udp(q, "127.0.0.1", port=served, timeout=3).rcode() == dns.rcode.NXDOMAIN


def _run(argv):
    parser = argparse.ArgumentParser()
    dns_cmd.add_arguments(parser)
    return dns_cmd.run(parser.parse_args(argv))


def test_non_loopback_host_refused(scenario):
    """Binding anything but a loopback address is refused."""
    with pytest.raises(SimError, match="only loopback"):
        _run([str(scenario), "--host", "0.0.0.0"])


def test_bad_dns_options_name_the_field(tmp_path):
    """A bad spec.dns value is a validation error with its file, line and field path."""
    path = tmp_path / "bad.yaml"
    path.write_text(SCENARIO.replace("ttl: 30", "ttl: 99999"))
    with pytest.raises(ValidationError, match=r"bad\.yaml:6: spec\.dns\.ttl: Invalid value: 99999"):
        _run([str(path), "--port", "0", "--duration", "0"])


def test_lookup_shows_each_query_and_the_count(scenario, capsys):
    """--lookup prints the pod's resolv.conf, every query with its answer, and the total:
    `my-service.prod` from a default pod costs 4 queries and ends in the CNAME's address."""
    assert _run([str(scenario), "--lookup", "my-service.prod", "--pod", "default/client"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == ["# /etc/resolv.conf of default/client", "nameserver 10.96.0.10",
                       "search default.svc.cluster.local svc.cluster.local cluster.local",
                       "options ndots:5"]
    assert [line.split()[:3] for line in out[4:8]] == [
        ["1", "A", "my-service.prod.default.svc.cluster.local."],
        ["2", "AAAA", "my-service.prod.default.svc.cluster.local."],
        ["3", "A", "my-service.prod.svc.cluster.local."],
        ["4", "AAAA", "my-service.prod.svc.cluster.local."]]
    assert out[6].split()[3:] == ["93.184.216.34"]
    assert out[-1] == "# 4 queries (glibc): 93.184.216.34"


def test_lookup_needs_pod(scenario):
    """--lookup without --pod is a user error."""
    with pytest.raises(SimError, match="--pod"):
        _run([str(scenario), "--lookup", "x"])


def test_port_in_use_is_a_user_error(scenario):
    """Serving on a port that is already bound is a SimError, not a traceback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        with pytest.raises(SimError, match=f"cannot listen on 127.0.0.1:{port}"):
            _run([str(scenario), "--port", str(port), "--duration", "0"])


def test_negative_seed_is_a_user_error(scenario):
    """--seed -1 is refused with a message naming the value (numpy takes no negative seed)."""
    with pytest.raises(SimError, match="seed: Invalid value: -1"):
        dns_cmd.run(argparse.Namespace(scenario=str(scenario), lookup="my-service",
                                       pod="default/client", seed=-1, resolver="glibc",
                                       family="UNSPEC"))


@pytest.mark.parametrize("name", ["", "a..b", "x" * 64 + ".com"])
def test_lookup_of_an_unencodable_name_sends_nothing(scenario, capsys, name):
    """--lookup of an empty name, an empty label or a 64-byte label: glibc sends no query and
    fails with NO_RECOVERY; the command says so and exits 1."""
    assert _run([str(scenario), "--lookup", name, "--pod", "default/client"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "# 0 queries (glibc): NO_RECOVERY"
    assert not any(line.split()[0].isdigit() for line in out if line.strip())


def test_lookup_from_default_policy_pod_uses_the_node_resolv_conf(tmp_path, capsys):
    """A dnsPolicy Default pod gets spec.dns.nodeResolvConf: its nameserver (outside the
    cluster, so only spec.dns.upstream answers) and its search domain, which finds
    `db` as db.corp.example in 2 queries."""
    text = SCENARIO.replace("    upstream: {example.com: [93.184.216.34]}\n",
                            "    upstream: {db.corp.example: [192.0.2.5]}\n"
                            "    nodeResolvConf: {nameservers: [192.168.0.2], searches: [corp.example]}\n")
    assert text != SCENARIO
    text += textwrap.indent(textwrap.dedent("""\
        - apiVersion: v1
          kind: Pod
          metadata: {name: hostdns, namespace: default}
          spec: {nodeName: node-1, dnsPolicy: Default, containers: [{name: c}]}
          status: {podIP: 10.244.1.10, conditions: [{type: Ready, status: "True"}]}
        """), "  ")
    path = tmp_path / "node-rc.yaml"
    path.write_text(text)
    assert _run([str(path), "--lookup", "db", "--pod", "default/hostdns"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:3] == ["nameserver 192.168.0.2", "search corp.example"]
    assert [line.split()[1:] for line in out if line.split()[0].isdigit()] == [
        ["A", "db.corp.example.", "192.0.2.5"], ["AAAA", "db.corp.example.", "NODATA"]]
    assert out[-1] == "# 2 queries (glibc): 192.0.2.5"


def test_lookup_from_cluster_first_pod_searches_node_domains_last(tmp_path, capsys):
    """A ClusterFirst pod's search list ends with the node's domains: `db` costs 8 queries
    and is found as db.corp.example through the cluster DNS's upstream."""
    text = SCENARIO.replace("    upstream: {example.com: [93.184.216.34]}\n",
                            "    upstream: {db.corp.example: [192.0.2.5]}\n"
                            "    nodeResolvConf: {searches: [corp.example]}\n")
    assert text != SCENARIO
    path = tmp_path / "node-rc.yaml"
    path.write_text(text)
    assert _run([str(path), "--lookup", "db", "--pod", "default/client"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2] == "search default.svc.cluster.local svc.cluster.local cluster.local corp.example"
    assert out[-1] == "# 8 queries (glibc): 192.0.2.5"
