"""A cluster of network namespaces that behaves like Kubernetes nodes, pods and clients.

Topology (see ../shared/notes/kernel-oracle.md for why each piece is there)::

    <p>sw    switch: bridge br0 for the node LAN, bridge-nf-call-iptables=0 (no conntrack)
    <p>nI    node I: eth0 on the LAN (InternalIP/32 + on-link /32 routes to every LAN host),
             bridge cni0 with the first address of its pod CIDR, routes to the other nodes'
             pod CIDRs via their InternalIP, default route on eth0 (covers the service CIDR),
             ip_forward=1, bridge-nf-call-iptables=1, route_localnet=1, icmp_ratelimit=0,
             icmp_msgs_per_sec and icmp_msgs_burst raised, ICMP redirects off
    <p>pK    pod K: eth0 (veth into its node's cni0, hairpin on), pod IP, default via cni0
    <p>cJ    client J: eth0 on the LAN with its addresses, default route via its gateway node
             (so it can reach ClusterIPs through that node, as the note's reference does);
             its ``spread`` addresses via every node (ECMP, layer-4 hash), like a cloud LB

(<p> is ``kns<pid>-<k>-``.)

One agent process (:mod:`sim.oracle.agent`) runs in every pod, node and client namespace; a
probe is one JSON line over its pipes, so thousands of connections cost no process start.
"""

from __future__ import annotations

import itertools
import json
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sim.oracle.netns import (
    Namespace,
    OracleError,
    cleanup_stale,
    run,
    run_prefix,
)
from sim.oracle.parse import RuleCounter, parse_conntrack, parse_counters, parse_recent
from sim.oracle.topology import ClusterSpec

_SEQUENCE = itertools.count()
AGENT = Path(__file__).with_name("agent.py")
AGENT_START_TIMEOUT_S = 15.0
BACKENDS = ("nft", "legacy")

# icmp_ratelimit=0 lifts the per-destination limit; the per-namespace global limiter
# (icmp_msgs_per_sec=1000, burst 50) still turns a burst of more than ~50 REJECTs into
# timeouts, so it is raised too (measured here: the 49th of 50 back-to-back connections timed
# out with only icmp_ratelimit=0).
ICMP_SYSCTLS = {
    "net.ipv4.icmp_ratelimit": "0",
    "net.ipv4.icmp_msgs_per_sec": "1000000",
    "net.ipv4.icmp_msgs_burst": "1000000",
}
# A node that forwards a packet out of the interface it came in on (an outside client's
# connection DNATed to a pod on another node) sends the client an ICMP redirect, and the client
# then bypasses the node for that destination: later connections change path and the node's
# own rule counters see the redirect. kube-proxy's behaviour does not depend on redirects, so
# the oracle turns them off on both ends.
NO_REDIRECTS = {
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.default.send_redirects": "0",
    "net.ipv4.conf.all.accept_redirects": "0",
    "net.ipv4.conf.default.accept_redirects": "0",
}
NODE_SYSCTLS = {
    **NO_REDIRECTS,
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.ipv4.conf.all.route_localnet": "1",
    **ICMP_SYSCTLS,
}
HOST_SYSCTLS = {**ICMP_SYSCTLS, **NO_REDIRECTS}
# Multipath routes (ClientSpec.spread) hash on the 5-tuple, so connections spread over nodes.
ECMP_SYSCTLS = {"net.ipv4.fib_multipath_hash_policy": "1"}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one connection: ``status`` ok/refused/timeout/unreachable/error; on ok,
    the pod that answered and the source address it saw."""

    status: str
    pod: str | None = None
    peer_ip: str | None = None
    peer_port: int | None = None
    local_ip: str | None = None
    local_port: int | None = None
    sport: int = 0

    @classmethod
    def from_json(cls, d: dict) -> ProbeResult:
        peer = d.get("peer", ":").rsplit(":", 1)
        local = d.get("local", ":").rsplit(":", 1)
        return cls(
            status=d["status"], pod=d.get("pod"),
            peer_ip=peer[0] or None, peer_port=int(peer[1]) if peer[1] else None,
            local_ip=local[0] or None, local_port=int(local[1]) if local[1] else None,
            sport=int(d.get("sport", 0)),
        )


class Agent:
    """The pipes to one agent process."""

    def __init__(self, netns: str, name: str, ports: tuple[tuple[str, int], ...]) -> None:
        argv = ["ip", "netns", "exec", netns, sys.executable, "-u", str(AGENT), "--name", name]
        for proto, port in ports:
            argv += ["--serve", f"{proto}:{port}"]
        self.name = name
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1,
        )

    def _readline(self, timeout_s: float) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:
            raise OracleError(f"agent {self.name}: no answer within {timeout_s:g} s")
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            raise OracleError(f"agent {self.name} exited: {err.strip()[-2000:]}")
        return json.loads(line)

    def wait_ready(self, timeout_s: float = AGENT_START_TIMEOUT_S) -> None:
        msg = self._readline(timeout_s)
        if msg.get("ready") != self.name:
            raise OracleError(f"agent {self.name}: unexpected start message {msg}")

    def call(self, cmd: dict, timeout_s: float) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        out = self._readline(timeout_s)
        if "error" in out:
            raise OracleError(f"agent {self.name}: {out['error']}")
        return out

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


class KernelCluster:
    """Build ``spec`` as namespaces; a context manager that always deletes them.

    Parameters
    ----------
    spec
        The topology (:func:`sim.oracle.topology.spec_from_state`).
    backend
        ``"nft"`` (iptables-nft, the default on current distributions) or ``"legacy"``.
    prefix
        Namespace-name prefix; default ``kns<pid>-<k>-`` (k counts clusters of this process)
        so concurrent runs and clusters never collide.
    """

    def __init__(self, spec: ClusterSpec, backend: str = "nft", prefix: str | None = None):
        if backend not in BACKENDS:
            raise OracleError(f"backend must be one of {BACKENDS}, not {backend!r}")
        spec.validate()
        self.spec = spec
        self.backend = backend
        self.prefix = prefix or f"{run_prefix()}{next(_SEQUENCE)}-"
        self.namespaces: list[Namespace] = []
        self.ns_of: dict[str, str] = {}
        self.agents: dict[str, Agent] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> KernelCluster:
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _ns(self, suffix: str, sysctls: dict[str, str]) -> Namespace:
        # Sysctls go in before any interface exists: per-interface settings (send_redirects)
        # are copied from the namespace's defaults when the interface is created.
        ns = Namespace(self.prefix + suffix)
        self.namespaces.append(ns)
        ns.sysctl(sysctls)
        return ns

    def build(self) -> None:
        """Create namespaces, links, addresses, routes and sysctls; start the agents."""
        cleanup_stale()
        spec = self.spec
        sw = self._ns("sw", {"net.bridge.bridge-nf-call-iptables": "0"})
        sw_cmds = ["link add br0 type bridge", "link set br0 up"]
        lan = [(n.name, (n.ip,)) for n in spec.nodes] + [(c.name, c.ips) for c in spec.clients]
        lan_ips = [ip for _, ips in lan for ip in ips]
        node_ns: dict[str, Namespace] = {}
        batches: dict[str, list[str]] = {}
        for i, node in enumerate(spec.nodes):
            ns = self._ns(f"n{i}", NODE_SYSCTLS)
            node_ns[node.name] = ns
            self.ns_of[node.name] = ns.name
            sw_cmds += [f"link add l{i} type veth peer name eth0 netns {ns.name}",
                        f"link set l{i} master br0", f"link set l{i} up"]
            cmds = [f"addr add {node.ip}/32 dev eth0", "link set eth0 up",
                    "link add cni0 type bridge",
                    f"addr add {node.bridge_ip}/{node.pod_prefix} dev cni0", "link set cni0 up"]
            cmds += [f"route add {ip}/32 dev eth0" for ip in lan_ips if ip != node.ip]
            cmds += [f"route add {o.pod_cidr} via {o.ip} dev eth0"
                     for o in spec.nodes if o.name != node.name]
            cmds.append("route add default dev eth0")
            batches[ns.name] = cmds
        for j, client in enumerate(spec.clients):
            ns = self._ns(f"c{j}", {**HOST_SYSCTLS, **ECMP_SYSCTLS})
            self.ns_of[client.name] = ns.name
            sw_cmds += [f"link add m{j} type veth peer name eth0 netns {ns.name}",
                        f"link set m{j} master br0", f"link set m{j} up"]
            cmds = [f"addr add {ip}/32 dev eth0" for ip in client.ips] + ["link set eth0 up"]
            cmds += [f"route add {ip}/32 dev eth0" for ip in lan_ips if ip not in client.ips]
            cmds.append(f"route add default via {spec.node(client.gateway).ip} dev eth0")
            hops = " ".join(f"nexthop via {n.ip} dev eth0" for n in spec.nodes)
            cmds += [f"route add {ip}/32 {hops}" for ip in client.spread]
            batches[ns.name] = cmds
        self._batch(sw.name, sw_cmds)
        for k, pod in enumerate(spec.pods):
            ns = self._ns(f"p{k}", HOST_SYSCTLS)
            self.ns_of[pod.name] = ns.name
            node = spec.node(pod.node)
            batches[node_ns[pod.node].name] += [
                f"link add v{k} type veth peer name eth0 netns {ns.name}",
                f"link set v{k} master cni0", f"link set v{k} type bridge_slave hairpin on",
                f"link set v{k} up",
            ]
            batches[ns.name] = [f"addr add {pod.ip}/{node.pod_prefix} dev eth0",
                                "link set eth0 up", f"route add default via {node.bridge_ip}"]
        # Node batches create the pod veths, so they run before the pod batches.
        for ns in node_ns.values():
            self._batch(ns.name, batches.pop(ns.name))
        for name in sorted(batches):
            self._batch(name, batches[name])
        self._start_agents()

    def _batch(self, netns: str, cmds: list[str]) -> None:
        run(["ip", "-n", netns, "-batch", "-"], input_text="\n".join(cmds) + "\n", timeout_s=30)

    def _start_agents(self) -> None:
        ports = {p.name: p.ports for p in self.spec.pods}
        for name in sorted(self.ns_of):
            self.agents[name] = Agent(self.ns_of[name], name, ports.get(name, ()))
        for agent in self.agents.values():
            agent.wait_ready()

    def close(self) -> None:
        """Stop every agent and delete every namespace this cluster made (idempotent)."""
        for agent in self.agents.values():
            try:
                agent.stop()
            except (OSError, subprocess.SubprocessError):
                pass
        self.agents.clear()
        while self.namespaces:
            self.namespaces.pop().delete()

    # -- rules -------------------------------------------------------------------------------
    def netns(self, host: str) -> str:
        """The namespace name of a node, pod or client."""
        try:
            return self.ns_of[host]
        except KeyError:
            raise OracleError(f"oracle: no host {host!r}") from None

    def _tool(self, name: str, backend: str | None) -> str:
        return f"iptables-{backend or self.backend}-{name}"

    def restore(self, node: str, text: str, *, noflush: bool = False,
                backend: str | None = None, timeout_s: float = 600.0) -> float:
        """Load an iptables-restore payload into ``node``; returns the wall time in seconds.

        Raises :class:`OracleError` naming the failing line when the kernel refuses it (a
        failed restore changes nothing).
        """
        argv = [self._tool("restore", backend), "-w"]
        if noflush:
            argv.append("--noflush")
        t0 = time.perf_counter()
        run(argv, netns=self.netns(node), input_text=text, timeout_s=timeout_s)
        return time.perf_counter() - t0

    def save(self, node: str, *, counters: bool = False, backend: str | None = None) -> str:
        """``iptables-save`` of ``node`` (with ``-c`` when ``counters``)."""
        argv = [self._tool("save", backend)] + (["-c"] if counters else [])
        return run(argv, netns=self.netns(node), timeout_s=60).stdout

    def counters(self, node: str) -> list[RuleCounter]:
        """Per-rule packet/byte counters of ``node``."""
        return parse_counters(self.save(node, counters=True))

    def conntrack(self, node: str) -> list[dict]:
        """``conntrack -L`` of ``node``, parsed."""
        return parse_conntrack(self.conntrack_text(node))

    def conntrack_text(self, node: str) -> str:
        """Raw ``conntrack -L`` output of ``node``."""
        return run(["conntrack", "-L"], netns=self.netns(node), timeout_s=30).stdout

    def flush_conntrack(self, node: str) -> None:
        """``conntrack -F`` on ``node``."""
        run(["conntrack", "-F"], netns=self.netns(node), timeout_s=30)

    def recent(self, node: str, name: str) -> list[dict]:
        """The ``recent`` list ``name`` of ``node`` (empty when it does not exist)."""
        proc = run(["cat", f"/proc/net/xt_recent/{name}"], netns=self.netns(node),
                   timeout_s=10, check=False)
        return parse_recent(proc.stdout) if proc.returncode == 0 else []

    def clear_recent(self, node: str) -> None:
        """Empty every ``recent`` list of ``node`` (writing ``/`` to each
        ``/proc/net/xt_recent/<name>``): ClientIP affinity pins are forgotten."""
        script = 'for f in /proc/net/xt_recent/*; do [ -e "$f" ] && echo / > "$f"; done; true'
        run(["sh", "-c", script], netns=self.netns(node), timeout_s=10)

    # -- traffic -----------------------------------------------------------------------------
    def probe(self, source: str, dst: str, port: int, *, proto: str = "tcp", count: int = 1,
              src_ip: str | None = None, timeout_s: float = 0.5) -> list[ProbeResult]:
        """Open ``count`` connections (TCP) or request datagrams (UDP) from host ``source``
        (a node, pod or client name) to ``dst:port``, one after another, each on a new source
        port. ``src_ip`` binds a client's source address. Each waits at most ``timeout_s``.
        """
        if proto not in ("tcp", "udp"):
            raise OracleError(f"oracle: protocol {proto!r} not supported by the agent")
        agent = self.agents.get(source)
        if agent is None:
            raise OracleError(f"oracle: no host {source!r}")
        cmd = {"op": "probe", "proto": proto, "dst": dst, "port": port, "count": count,
               "timeout_s": timeout_s}
        if src_ip:
            cmd["src"] = src_ip
        out = agent.call(cmd, timeout_s=count * (timeout_s + 0.5) + 5.0)
        return [ProbeResult.from_json(r) for r in out["results"]]

