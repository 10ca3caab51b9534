"""`kube-netsim env SCENARIO --pod NS/NAME` prints the kubelet's service variables."""

from __future__ import annotations

import argparse
import textwrap

import pytest

from sim.commands import env as env_cmd
from sim.model.errors import SimError

SCENARIO = textwrap.dedent("""\
    apiVersion: kube-netsim/v1
    kind: Scenario
    metadata: {name: env-demo}
    spec:
      cluster: {serviceCIDR: 10.0.0.0/8}
      objects:
      - apiVersion: v1
        kind: Node
        metadata: {name: node-1}
        spec: {podCIDR: 172.16.1.0/24}
        status: {addresses: [{type: InternalIP, address: 192.168.49.2}]}
      - apiVersion: v1
        kind: Service
        metadata: {name: kubernetes, namespace: default}
        spec:
          clusterIP: 10.96.0.1
          ports: [{name: https, port: 443, targetPort: 6443}]
      - apiVersion: v1
        kind: Service
        metadata: {name: redis-master, namespace: default}
        spec:
          clusterIP: 10.0.0.11
          selector: {app: redis}
          ports: [{port: 6379}]
      - apiVersion: v1
        kind: Service
        metadata: {name: peers, namespace: default}
        spec:
          clusterIP: None
          selector: {app: redis}
          ports: [{port: 6379}]
      - apiVersion: v1
        kind: Pod
        metadata: {name: client, namespace: default, labels: {app: client}}
        spec:
          nodeName: node-1
          containers: [{name: c, image: busybox}]
        status:
          podIP: 172.16.1.5
          conditions: [{type: Ready, status: "True"}]
      - apiVersion: v1
        kind: Pod
        metadata: {name: nolinks, namespace: default}
        spec:
          nodeName: node-1
          enableServiceLinks: false
          containers: [{name: c, image: busybox}]
        status:
          podIP: 172.16.1.6
          conditions: [{type: Ready, status: "True"}]
      - apiVersion: v1
        kind: Service
        metadata: {name: late, namespace: default}
        spec:
          clusterIP: 10.96.0.99
          ports: [{port: 80}]
    """)


@pytest.fixture()
def scenario(tmp_path):
    path = tmp_path / "env-demo.yaml"
    path.write_text(SCENARIO)
    return str(path)


def run(argv):
    parser = argparse.ArgumentParser()
    env_cmd.add_arguments(parser)
    return env_cmd.run(parser.parse_args(argv))


def test_env_prints_redis_master_and_kubernetes_exactly(scenario, capsys):
    """The client pod gets KUBERNETES_* and REDIS_MASTER_* (not the headless service nor the
    Service created after it), services in name order."""
    assert run([scenario, "--pod", "default/client"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "KUBERNETES_SERVICE_HOST=10.96.0.1",
        "KUBERNETES_SERVICE_PORT=443",
        "KUBERNETES_SERVICE_PORT_HTTPS=443",
        "KUBERNETES_PORT=tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP_PROTO=tcp",
        "KUBERNETES_PORT_443_TCP_PORT=443",
        "KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1",
        "REDIS_MASTER_SERVICE_HOST=10.0.0.11",
        "REDIS_MASTER_SERVICE_PORT=6379",
        "REDIS_MASTER_PORT=tcp://10.0.0.11:6379",
        "REDIS_MASTER_PORT_6379_TCP=tcp://10.0.0.11:6379",
        "REDIS_MASTER_PORT_6379_TCP_PROTO=tcp",
        "REDIS_MASTER_PORT_6379_TCP_PORT=6379",
        "REDIS_MASTER_PORT_6379_TCP_ADDR=10.0.0.11",
    ]


def test_env_without_service_links(scenario, capsys):
    """enableServiceLinks: false keeps only the KUBERNETES_* lines."""
    run([scenario, "--pod", "default/nolinks"])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 8 and all(line.startswith("KUBERNETES_") for line in out)


def test_env_unknown_pod_is_a_user_error(scenario):
    """An unknown pod is a SimError naming it."""
    with pytest.raises(SimError, match='pod "default/ghost" not found'):
        run([scenario, "--pod", "default/ghost"])


def test_env_bad_pod_argument(scenario):
    """--pod must be [NAMESPACE/]NAME."""
    with pytest.raises(SimError, match=r"\[NAMESPACE/\]NAME"):
        run([scenario, "--pod", "default/"])


def test_env_bare_pod_name_is_in_the_default_namespace(scenario, capsys):
    """--pod NAME means default/NAME, as trace --from-pod takes it."""
    run([scenario, "--pod", "nolinks"])
    bare = capsys.readouterr().out
    run([scenario, "--pod", "default/nolinks"])
    assert bare == capsys.readouterr().out and bare


def test_env_through_the_cli_dispatcher(scenario, capsys):
    """`kube-netsim env` is wired into the CLI; an unknown pod exits 1 with a message."""
    from sim.cli import main

    assert main(["env", scenario, "--pod", "default/nolinks"]) == 0
    assert capsys.readouterr().out.startswith("KUBERNETES_SERVICE_HOST=10.96.0.1\n")
    assert main(["env", scenario, "--pod", "default/ghost"]) == 1
    assert 'pod "default/ghost" not found' in capsys.readouterr().err


def test_env_says_so_when_no_service_precedes_the_pod(tmp_path, capsys):
    """A pod created before every Service gets no variables, and env says why on stderr."""
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent("""\
        apiVersion: kube-netsim/v1
        kind: Scenario
        metadata: {name: early}
        spec:
          objects:
          - apiVersion: v1
            kind: Pod
            metadata: {name: first}
            spec: {containers: [{name: c}]}
          - apiVersion: v1
            kind: Service
            metadata: {name: web}
            spec: {ports: [{port: 80}]}
        """))
    run([str(p), "--pod", "first"])
    out = capsys.readouterr()
    assert out.out == ""
    assert 'pod "default/first" gets no service environment variables' in out.err
    assert "(web) were created after it" in out.err
