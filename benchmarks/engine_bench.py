"""Benchmark: new connections per second through one node's netfilter engine.

Builds kube-proxy style nat/filter rules (restore-input spelling, as ``syncProxyRules``
writes them: one KUBE-SERVICES rule per ClusterIP, a KUBE-SVC chain with the masquerade rule
and the probability cascade, a KUBE-SEP chain per endpoint) for N ClusterIP services of three
endpoints each, then sends the first packet (SYN) of new connections from pod and external
clients to services spread over the whole KUBE-SERVICES chain, through PREROUTING, FORWARD and
POSTROUTING. Prints, for N = 10, 1,000 and 10,000: connections per CPU-second (median of
repeats) through ``prerouting`` (a full Result per packet, as the tracer uses) and through
``prerouting_verdict`` ("lean": the verdict's fields, what the simulated world calls), the
cost per packet relative to N = 10, and the mean walk length a kernel would have had.

``--mode nftables`` runs kube-proxy's nftables table instead (``sim.kubeproxy.nftables``'s
first, full sync for the same N ClusterIP services of three endpoints, applied like ``nft
-f``): the walk counts rules and set/map lookups. ``--mode all`` runs iptables and nftables in
one run, so their costs compare as ratios measured together.

``--mode ipvs``: the same N services x 3 endpoints compiled by the IPVS compiler
(``sim.kubeproxy.ipvs.compile_ipvs``: iptables payload with ipset matches, the ipsets, the
IPVS table) on an engine with the IPVS stage: each new connection goes PREROUTING, INPUT, the
IPVS stage (virtual-server lookup, rr, new IPVS connection), OUTPUT, POSTROUTING. The IPVS
figures print the cost of a new connection at N relative to N = 10 (goal <= 1.1 at 10,000).

Run: ``.venv/bin/python benchmarks/engine_bench.py [--quick] [--mode iptables|nftables|all|ipvs]``
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import platform
import statistics
import time

import numpy as np

from sim.iptables import apply_payload, parse_restore
from sim.kubeproxy.nftables import compile_nft
from sim.model import (ClusterState, Endpoint, EndpointPort, EndpointSlice, KubeProxyConfig,
                       Node, NodeAddress, Service, ServicePort)
from sim.model.packet import Packet
from sim.netfilter import NodeNetfilter, Route
from sim.nftables import apply_nft

MARK = "0x00004000"
CLUSTER_CIDR = "10.244.0.0/16"


def h16(s: str) -> str:
    return base64.b32encode(hashlib.sha256(s.encode()).digest()).decode()[:16]


def cluster_ip(i: int) -> str:
    return f"10.96.{(i >> 8) & 255}.{i & 255}" if i < 65536 else f"10.97.{(i >> 8) & 255}.{i & 255}"


def endpoint_ip(i: int, k: int) -> str:
    n = i * 3 + k
    return f"10.244.{(n >> 8) & 255}.{n & 255}"


def rules_text(n_services: int) -> str:
    """kube-proxy's restore payload for ``n_services`` ClusterIP services x 3 endpoints."""
    nat_chains = [":KUBE-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]",
                  ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]
    nat = [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        f"-A KUBE-POSTROUTING -m mark ! --mark {MARK}/{MARK} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {MARK}",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {MARK}",
    ]
    probs = ["0.3333333333", "0.5000000000"]
    for i in range(n_services):
        spn = f"ns{i}/svc{i}:p80"
        svc = "KUBE-SVC-" + h16(spn + "tcp")
        ip = cluster_ip(i)
        nat_chains.append(f":{svc} - [0:0]")
        nat.append(f'-A KUBE-SERVICES -m comment --comment "{spn} cluster IP" -m tcp -p tcp '
                   f"-d {ip} --dport 80 -j {svc}")
        nat.append(f'-A {svc} -m comment --comment "{spn} cluster IP" -m tcp -p tcp -d {ip} '
                   f"--dport 80 ! -s {CLUSTER_CIDR} -j KUBE-MARK-MASQ")
        for k in range(3):
            ep = endpoint_ip(i, k)
            sep = "KUBE-SEP-" + h16(spn + "tcp" + f"{ep}:80")
            nat_chains.append(f":{sep} - [0:0]")
            stat = f" -m statistic --mode random --probability {probs[k]}" if k < 2 else ""
            nat.append(f'-A {svc} -m comment --comment "{spn} -> {ep}:80"{stat} -j {sep}')
            nat.append(f"-A {sep} -m comment --comment {spn} -s {ep} -j KUBE-MARK-MASQ")
            nat.append(f"-A {sep} -m comment --comment {spn} -m tcp -p tcp "
                       f"-j DNAT --to-destination {ep}:80")
    nat.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this '
               'must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
    filt = [
        "*filter",
        ":KUBE-SERVICES - [0:0]", ":KUBE-EXTERNAL-SERVICES - [0:0]", ":KUBE-FORWARD - [0:0]",
        ":KUBE-NODEPORTS - [0:0]", ":KUBE-PROXY-FIREWALL - [0:0]",
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer '
        'firewall" -j KUBE-PROXY-FIREWALL',
        '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible '
        'service portals" -j KUBE-EXTERNAL-SERVICES',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer '
        'firewall" -j KUBE-PROXY-FIREWALL',
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" '
        "-j KUBE-SERVICES",
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible '
        'service portals" -j KUBE-EXTERNAL-SERVICES',
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" '
        "-j KUBE-SERVICES",
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
        f"-m mark --mark {MARK}/{MARK} -j ACCEPT",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "COMMIT",
    ]
    return "\n".join(filt + ["*nat"] + nat_chains + nat + ["COMMIT", ""])


def cluster(n_services: int) -> ClusterState:
    """The same N ClusterIP services x 3 endpoints as :func:`rules_text`, as a cluster."""
    services, slices = [], []
    for i in range(n_services):
        services.append(Service(namespace="default", name=f"svc{i}", cluster_ip=cluster_ip(i),
                                cluster_ips=(cluster_ip(i),),
                                ports=(ServicePort(port=80, name="p80", target_port=8080),),
                                creation_index=i))
        eps = tuple(Endpoint(addresses=(endpoint_ip(i, k),), node_name="other")
                    for k in range(3))
        slices.append(EndpointSlice(namespace="default", name=f"svc{i}-x",
                                    service_name=f"svc{i}", endpoints=eps,
                                    ports=(EndpointPort(8080, name="p80"),)))
    node = Node("node", addresses=(NodeAddress("InternalIP", "192.168.0.11"),),
                pod_cidr="10.244.0.0/24")
    return ClusterState(kube_proxy=KubeProxyConfig(cluster_cidr=CLUSTER_CIDR), nodes=(node,),
                        services=tuple(services), endpoint_slices=tuple(slices))


def bench(n_services: int, n_conns: int, repeats: int, fast: bool = True,
          lean: bool = False, mode: str = "iptables") -> dict:
    t0 = time.perf_counter()
    if mode == "nftables":
        ruleset, nft = None, apply_nft(compile_nft(cluster(n_services), "node"))
    else:
        ruleset, nft = apply_payload(parse_restore(rules_text(n_services))), None
    load_s = time.perf_counter() - t0
    rates, walks = [], []
    eth0 = Route("eth0", "192.168.0.11")  # one route object, as the world's route cache has
    for rep in range(repeats):
        nf = NodeNetfilter(ruleset, ["192.168.0.11", "10.244.0.1"], fast=fast, trace=False,
                           conntrack_max=10 * n_conns, route=lambda dst: eth0,
                           nft=nft.copy() if nft is not None else None)
        # The loaded rules live as long as the node: keep them out of the cyclic GC's full
        # collections (which conntrack entries trigger), as a long-running simulation would.
        gc.collect()
        gc.freeze()
        rng = np.random.default_rng(rep)
        targets = rng.integers(0, n_services, n_conns)
        packets = [Packet("tcp", "10.244.9.9" if k % 2 else "192.168.0.50",
                          cluster_ip(int(t)), 1024 + k % 60000, 80)
                   for k, t in enumerate(targets)]
        walk = 0
        # CPU time of this process: robust against other load on a shared machine.
        if lean:  # what the simulated world calls: the verdict's fields, no Result
            run = nf.prerouting_verdict
            start = time.process_time()
            for k, p in enumerate(packets):
                walk += run(p, k * 1e-6, rng, "eth0")[3]
            elapsed = time.process_time() - start
        else:
            start = time.process_time()
            for k, p in enumerate(packets):
                walk += nf.prerouting(p, k * 1e-6, rng, "eth0").walk_length
            elapsed = time.process_time() - start
        gc.unfreeze()
        rates.append(n_conns / elapsed)
        walks.append(walk / n_conns)
    return {"services": n_services, "conn_per_s": statistics.median(rates),
            "walk": statistics.median(walks), "restore_s": load_s}


def ipvs_node(n_services: int, n_conns: int):
    """A node programmed by the IPVS compiler for ``n_services`` x 3 endpoints."""
    from compile_bench import build_state

    from sim.kubeproxy.ipvs import bootstrap_payload, compile_ipvs
    from sim.netfilter.ipvs import attach

    state = build_state(n_services, 3)
    t0 = time.perf_counter()
    rules = compile_ipvs(state, "node-0")
    base = apply_payload(bootstrap_payload(), noflush=True)
    ruleset = apply_payload(rules.payload, base, noflush=True)
    eth0 = Route("eth0", "192.168.0.10")
    nf = NodeNetfilter(ruleset, ["192.168.0.10"], trace=False, conntrack_max=10 * n_conns,
                       route=lambda dst: eth0, ipsets=rules.ipsets)
    attach(nf, rules.ipvs, state.kube_proxy.ipvs)
    return nf, time.perf_counter() - t0, [s.cluster_ip for s in state.services]


def bench_ipvs(n_services: int, n_conns: int, repeats: int, lean: bool = False) -> dict:
    rates, walks = [], []
    load_s = 0.0
    for rep in range(repeats):
        nf, load_s, vips = ipvs_node(n_services, n_conns)
        gc.collect()
        gc.freeze()
        rng = np.random.default_rng(rep)
        targets = rng.integers(0, n_services, n_conns)
        packets = [Packet("tcp", "10.128.250.9" if k % 2 else "192.168.0.50",
                          vips[int(t)], 1024 + k % 60000, 80)
                   for k, t in enumerate(targets)]
        walk = 0
        if lean:
            run = nf.prerouting_verdict
            start = time.process_time()
            for k, p in enumerate(packets):
                walk += run(p, k * 1e-6, rng, "eth0")[3]
            elapsed = time.process_time() - start
        else:
            start = time.process_time()
            for k, p in enumerate(packets):
                walk += nf.prerouting(p, k * 1e-6, rng, "eth0").walk_length
            elapsed = time.process_time() - start
        gc.unfreeze()
        rates.append(n_conns / elapsed)
        walks.append(walk / n_conns)
    return {"services": n_services, "conn_per_s": statistics.median(rates),
            "walk": statistics.median(walks), "restore_s": load_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer connections and repeats")
    ap.add_argument("--linear", action="store_true", help="the linear reference walk")
    ap.add_argument("--mode", choices=("iptables", "nftables", "all", "ipvs"), default="iptables",
                    help="kube-proxy mode whose rules the node runs (all: iptables and nftables)")
    args = ap.parse_args()
    n_conns, repeats = (5000, 3) if args.quick else (30000, 5)
    if args.mode == "ipvs":
        print(f"machine: {platform.machine()} {platform.processor() or ''} python "
              f"{platform.python_version()}; {n_conns} connections x {repeats} repeats, "
              "IPVS mode (rr)")
        base = None
        for n in (10, 1000, 10000):
            r = bench_ipvs(n, n_conns, repeats)
            lean = bench_ipvs(n, n_conns, repeats, lean=True)
            per_pkt = 1 / r["conn_per_s"]
            base = base or per_pkt
            print(f"{n:>6} services: {r['conn_per_s']:>10,.0f} new conn/s with a Result, "
                  f"{lean['conn_per_s']:>8,.0f} lean  cost x{per_pkt / base:.2f} vs 10  "
                  f"kernel walk {r['walk']:.1f} rules  (compile+apply {r['restore_s']:.2f} s)")
        return
    print(f"machine: {platform.machine()} {platform.processor() or ''} python "
          f"{platform.python_version()}; {n_conns} connections x {repeats} repeats, "
          f"{'linear' if args.linear else 'fast path'}")
    modes = ("iptables", "nftables") if args.mode == "all" else (args.mode,)
    at_10k = {}
    for mode in modes:
        base = None
        print(f"{mode} mode:")
        for n in (10, 1000, 10000):
            r = bench(n, n_conns, repeats, fast=not args.linear, mode=mode)
            lean = bench(n, n_conns, repeats, fast=not args.linear, lean=True, mode=mode)
            per_pkt = 1 / r["conn_per_s"]
            base = base or per_pkt
            at_10k[mode] = r["conn_per_s"]
            unit = "rules and lookups" if mode == "nftables" else "rules"
            print(f"{n:>6} services: {r['conn_per_s']:>10,.0f} new conn/s with a Result, "
                  f"{lean['conn_per_s']:>8,.0f} lean  cost x{per_pkt / base:.2f} vs 10  "
                  f"kernel walk {r['walk']:.1f} {unit}  (parse+apply {r['restore_s']:.2f} s)")
    if len(at_10k) == 2:
        print(f"nftables vs iptables at 10,000 services: "
              f"x{at_10k['nftables'] / at_10k['iptables']:.2f} the connection rate")


if __name__ == "__main__":
    main()
