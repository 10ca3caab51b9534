"""Compile time of the iptables compiler against the real kernel's load time of the same payload.

For N ClusterIP Services with E endpoints each (default N = 100, 1,000, 10,000 and E = 10) it
prints: the compile time (cold: a first compile, name caches emptied; warm: the next compile,
caches filled as in a running sync loop; each the median over the repeats, as wall and process
CPU time), the nat/filter rule and chain counts, and - when run as root - the time ``iptables-restore`` takes to load the payload in a
fresh network namespace, for the nf_tables and legacy backends, with and without ``--noflush``
(kube-proxy runs ``--noflush``), each as a ratio to the warm compile time measured in the same run.

With ``--mode ipvs`` it times the IPVS compiler instead (:func:`run_ipvs`): compile time
(cold/warm, wall and CPU), iptables rules, ipset members, virtual and real servers, and - as
root - the time ``ipset restore`` takes to load the sets in a fresh namespace (this kernel has
no IPVS, so the virtual servers cannot be loaded).

``--mode nftables`` times the nftables compiler instead (``compile_nft``, the transaction of a
first, full sync) and, as root, the real ``nft -f`` load of that transaction into a fresh
namespace and of a partial sync's transaction (one service's endpoints replaced) on top of it,
each as a ratio to the warm compile time of the same run.

Usage::

    .venv/bin/python benchmarks/compile_bench.py [--mode iptables|nftables|ipvs]
        [--sizes 100,1000,10000] [--endpoints 10] [--repeats 5] [--no-kernel]
        [--noflush-timeout 120]

Namespaces are named ``kpxbench<pid>-<n>`` and deleted on exit, also on failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.kubeproxy import hashing  # noqa: E402
from sim.kubeproxy import iptables as compiler  # noqa: E402
from sim.kubeproxy import nftables as nft_compiler  # noqa: E402
from sim.model import (  # noqa: E402
    ClusterState,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    KubeProxyConfig,
    Node,
    NodeAddress,
    Service,
    ServicePort,
)

NODE = "node-0"


def build_state(n_services: int, n_endpoints: int) -> ClusterState:
    """N ClusterIP services ``bench/svc-i`` (port 80 -> 8080) with E endpoints over 3 nodes."""
    services, slices = [], []
    for i in range(n_services):
        ip = f"10.{96 + i // 65536}.{(i // 256) % 256}.{i % 256}"
        name = f"svc-{i:05d}"
        services.append(Service(namespace="bench", name=name, cluster_ip=ip, cluster_ips=(ip,),
                                ports=(ServicePort(port=80, name="http", target_port=8080),)))
        eps = []
        for j in range(n_endpoints):
            k = i * n_endpoints + j
            eps.append(Endpoint(addresses=(f"10.{128 + (k // 65536) % 128}.{(k // 256) % 256}.{k % 256}",),
                                node_name=f"node-{j % 3}"))
        slices.append(EndpointSlice(namespace="bench", name=f"{name}-x", service_name=name,
                                    endpoints=tuple(eps), ports=(EndpointPort(port=8080, name="http"),)))
    nodes = tuple(Node(name=f"node-{n}", addresses=(NodeAddress("InternalIP", f"192.168.0.{10 + n}"),))
                  for n in range(3))
    return ClusterState(kube_proxy=KubeProxyConfig(cluster_cidr="10.128.0.0/9"), nodes=nodes,
                        services=tuple(services), endpoint_slices=tuple(slices))


def clear_caches() -> None:
    hashing.clear_caches()
    compiler._decl.cache_clear()
    nft_compiler.clear_caches()


def time_compile(state: ClusterState, repeats: int, compile_fn=None) -> tuple[float, float, float, float, object]:
    """(cold wall s, cold CPU s, warm wall s, warm CPU s, payload), medians over ``repeats``
    cold/warm pairs. CPU time is printed too because the machine is shared: wall time grows
    with other load, process CPU time barely."""
    compile_fn = compile_fn or compiler.compile_rules
    cold, cold_cpu, warm, warm_cpu = [], [], [], []
    for _ in range(repeats):
        clear_caches()
        for wall, cpu in ((cold, cold_cpu), (warm, warm_cpu)):
            t0, c0 = time.perf_counter(), time.process_time()
            payload = compile_fn(state, NODE)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    med = statistics.median
    return med(cold), med(cold_cpu), med(warm), med(warm_cpu), payload


class Netns:
    def __init__(self, name: str) -> None:
        self.name = name
        subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)

    def restore(self, tool: str, text: str, noflush: bool, timeout: float) -> float | None:
        args = ["ip", "netns", "exec", self.name, tool] + (["--noflush"] if noflush else [])
        t0 = time.perf_counter()
        try:
            r = subprocess.run(args, input=text, text=True, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            raise RuntimeError(f"{tool} failed: {r.stderr[:500]}")
        return time.perf_counter() - t0

    def nft(self, text: str, timeout: float) -> float:
        t0 = time.perf_counter()
        r = subprocess.run(["ip", "netns", "exec", self.name, "nft", "-f", "-"], input=text,
                           text=True, capture_output=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"nft -f failed: {r.stderr[:500]}")
        return time.perf_counter() - t0

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], timeout=10)


def kernel_times(payload_text: str, boot_text: str, noflush_timeout: float, counter: list[int]) -> dict:
    out = {}
    for backend, tool in (("nft", "iptables-restore"), ("legacy", "iptables-legacy-restore")):
        for noflush in (False, True):
            counter[0] += 1
            ns = Netns(f"kpxbench{os.getpid()}-{counter[0]}")
            try:
                ns.restore(tool, boot_text, noflush=True, timeout=60)
                out[(backend, noflush)] = ns.restore(tool, payload_text, noflush,
                                                     noflush_timeout if noflush else 600)
            finally:
                ns.delete()
    return out


def nft_partial(state: ClusterState, first) -> object:
    """The partial sync after ``first`` when service 0's endpoints all change."""
    sl = state.endpoint_slices[0]
    moved = tuple(dataclasses.replace(e, addresses=("10.127.255." + str(i + 1),))
                  for i, e in enumerate(sl.endpoints))
    changed = dataclasses.replace(state, endpoint_slices=(dataclasses.replace(sl, endpoints=moved),)
                                  + state.endpoint_slices[1:])
    return nft_compiler.sync_nft(changed, NODE, previous=first.state,
                                 changed_services=frozenset({f"{sl.namespace}/{sl.service_name}"}))


def main_nft(args, kernel: bool) -> int:
    """The ``--mode nftables`` table."""
    print(f"{'services':>8} {'eps':>4} {'commands':>9} {'rules':>8} {'chains':>7} {'elements':>8} "
          f"{'cold s':>7} {'cold cpu':>8} {'warm s':>7} {'warm cpu':>8}"
          + ("   nft -f s (ratio to warm compile): full; partial (1 service)" if kernel else ""))
    counter = 0
    for n in (int(x) for x in args.sizes.split(",")):
        state = build_state(n, args.endpoints)
        repeats = args.repeats if n < 10000 else max(3, args.repeats // 2)
        cold, cold_cpu, warm, warm_cpu, tx = time_compile(state, repeats, nft_compiler.compile_nft)
        stats = nft_compiler.transaction_stats(tx)
        line = (f"{n:>8} {args.endpoints:>4} {len(tx.commands):>9} {stats.rules:>8} "
                f"{stats.chains:>7} {stats.elements:>8} "
                f"{cold:>7.3f} {cold_cpu:>8.3f} {warm:>7.3f} {warm_cpu:>8.3f}")
        if kernel:
            full_times, partial_times = [], []
            first = nft_compiler.sync_nft(state, NODE)
            partial = nft_partial(state, first)
            for _ in range(max(1, repeats // 2)):
                counter += 1
                ns = Netns(f"kpxbench{os.getpid()}-{counter}")
                try:
                    full_times.append(ns.nft(first.transaction.render(), 600))
                    partial_times.append(ns.nft(partial.transaction.render(), 600))
                finally:
                    ns.delete()
            full, part = statistics.median(full_times), statistics.median(partial_times)
            line += f"   {full:.3f} ({full / warm:.1f}x); {part:.3f} ({part / warm:.3f}x)"
        print(line, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("iptables", "nftables", "ipvs"), default="iptables")
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-kernel", action="store_true")
    ap.add_argument("--noflush-timeout", type=float, default=120.0)
    args = ap.parse_args(argv)
    kernel = not args.no_kernel and os.geteuid() == 0
    if args.mode == "ipvs":
        return run_ipvs(args, kernel)

    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
          f"python={platform.python_version()} kernel={platform.release()} "
          f"load average={os.getloadavg()[0]:.2f}")
    if args.mode == "nftables":
        return main_nft(args, kernel)
    print(f"{'services':>8} {'eps':>4} {'nat rules':>9} {'nat chains':>10} {'filter rules':>12} "
          f"{'cold s':>7} {'cold cpu':>8} {'warm s':>7} {'warm cpu':>8}" + ("   kernel restore s (ratio to warm compile)" if kernel else ""))
    boot = compiler.bootstrap_payload().render()
    counter = [0]
    for n in (int(x) for x in args.sizes.split(",")):
        state = build_state(n, args.endpoints)
        repeats = args.repeats if n < 10000 else max(3, args.repeats // 2)
        cold, cold_cpu, warm, warm_cpu, payload = time_compile(state, repeats)
        nat, filt = payload.table("nat"), payload.table("filter")
        nat_rules = sum(1 for line in nat.lines if line.startswith("-A "))
        filt_rules = sum(1 for line in filt.lines if line.startswith("-A "))
        line = (f"{n:>8} {args.endpoints:>4} {nat_rules:>9} {len(nat.chains):>10} {filt_rules:>12} "
                f"{cold:>7.3f} {cold_cpu:>8.3f} {warm:>7.3f} {warm_cpu:>8.3f}")
        if kernel:
            times = kernel_times(payload.render(), boot, args.noflush_timeout, counter)
            parts = []
            for (backend, noflush), t in times.items():
                label = f"{backend}{' --noflush' if noflush else ''}"
                parts.append(f"{label} " + (f"{t:.3f} ({t / warm:.1f}x)" if t is not None
                                             else f">{args.noflush_timeout:.0f} (timeout)"))
            line += "   " + "; ".join(parts)
        print(line, flush=True)
    return 0


def run_ipvs(args: argparse.Namespace, kernel: bool) -> int:
    """``--mode ipvs``: the IPVS compiler's time and output sizes, and ``ipset restore``'s."""
    from sim.ipset import render_restore
    from sim.kubeproxy.ipvs import compile_ipvs, ipvs_stats

    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
          f"python={platform.python_version()} kernel={platform.release()} "
          f"load average={os.getloadavg()[0]:.2f}")
    print(f"{'services':>8} {'eps':>4} {'rules':>5} {'members':>8} {'vs':>6} {'rs':>7} "
          f"{'cold s':>7} {'cold cpu':>8} {'warm s':>7} {'warm cpu':>8}"
          + ("   ipset restore s (ratio to warm compile)" if kernel else ""))
    med = statistics.median
    counter = [0]
    for n in (int(x) for x in args.sizes.split(",")):
        state = build_state(n, args.endpoints)
        repeats = args.repeats if n < 10000 else max(3, args.repeats // 2)
        cold, cold_cpu, warm, warm_cpu = [], [], [], []
        for _ in range(repeats):
            clear_caches()
            for wall, cpu in ((cold, cold_cpu), (warm, warm_cpu)):
                t0, c0 = time.perf_counter(), time.process_time()
                rules = compile_ipvs(state, NODE)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        st = ipvs_stats(rules)
        line = (f"{n:>8} {args.endpoints:>4} {sum(k for _, k in st.rules):>5} "
                f"{sum(k for _, k in st.members):>8} {st.virtual_servers:>6} {st.real_servers:>7} "
                f"{med(cold):>7.3f} {med(cold_cpu):>8.3f} {med(warm):>7.3f} {med(warm_cpu):>8.3f}")
        if kernel:
            counter[0] += 1
            ns = Netns(f"kpxbench{os.getpid()}-{counter[0]}")
            try:
                t0 = time.perf_counter()
                r = subprocess.run(["ip", "netns", "exec", ns.name, "ipset", "restore"],
                                   input=render_restore(rules.ipsets), text=True,
                                   capture_output=True, timeout=600)
                took = time.perf_counter() - t0
                if r.returncode != 0:
                    raise RuntimeError(f"ipset restore failed: {r.stderr[:500]}")
            finally:
                ns.delete()
            line += f"   {took:.3f} ({took / med(warm):.1f}x)"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
