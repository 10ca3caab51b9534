"""Measure how long the real ``iptables-restore`` takes to load kube-proxy rules, and fit a model.

For N ClusterIP services x E endpoints, the kube-proxy iptables payload (from
``sim.kubeproxy.iptables.compile_rules`` when that compiler is importable, else the
kube-proxy-shaped text generated below) is loaded into a throwaway network namespace:

``full``
    ``iptables-restore`` into empty tables (the tables are emptied, untimed, before each run).
``noflush``
    ``iptables-restore --noflush`` of the same payload onto a node that already holds it: the
    steady-state resync kube-proxy performs (every chain line flushes its chain, then the rules
    are re-added).

for both backends (``nft`` and ``legacy``). Each point is the median of its repeats. Raw runs go
to ``sim/world/calibration/restore_times.csv``; per backend/mode a least-squares fit of
``seconds = a + b*rules + c*rules**2`` (weighted by 1/seconds, i.e. relative error) goes to
``sim/world/calibration/restore_model.json``.

The run is bounded: ``--budget-s`` (default 170 s) of measuring; a point whose predicted time
(from the previous point of the same series, assuming quadratic growth) would overrun the budget
is skipped and recorded as skipped in the JSON. Needs root.

Usage: ``.venv/bin/python benchmarks/calibrate_restore.py [--budget-s 170] [--quick]``
"""

from __future__ import annotations

import argparse
import base64
import csv
import datetime as dt
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.oracle import ClusterSpec, KernelCluster, NodeSpec, skip_reason  # noqa: E402

OUT_DIR = ROOT / "sim" / "world" / "calibration"
MASQ_MARK = "0x4000"
CLUSTER_CIDR = "10.244.0.0/16"
EMPTY_TABLES = "*nat\nCOMMIT\n*filter\nCOMMIT\n"


def _chain_hash(prefix: str, text: str) -> str:
    # kube-proxy's servicePortChainName / servicePortEndpointChainName:
    # prefix + base32(sha256(text))[:16] (pkg/proxy/iptables/proxier.go).
    digest = hashlib.sha256(text.encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:16]


def _service_ip(i: int) -> str:
    n = i + 10
    return f"10.96.{n // 250}.{n % 250 + 1}"


def _endpoint_ip(i: int, j: int) -> str:
    n = i * 16 + j
    return f"10.{200 + n // 62500}.{(n // 250) % 250}.{n % 250 + 1}"


def generated_payload(n_services: int, n_endpoints: int) -> str:
    """kube-proxy-shaped restore text: what the iptables proxier writes for ``n_services``
    ClusterIP TCP services of ``n_endpoints`` remote endpoints each (filter + nat; 5 + N(2+3E)
    nat rules, as upstream's TestNumberIptablesRules pins)."""
    filt = ["*filter", ":KUBE-NODEPORTS - [0:0]", ":KUBE-SERVICES - [0:0]",
            ":KUBE-EXTERNAL-SERVICES - [0:0]", ":KUBE-FIREWALL - [0:0]",
            ":KUBE-FORWARD - [0:0]", ":KUBE-PROXY-FIREWALL - [0:0]",
            "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
            '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
            f"-m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT",
            '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
            "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "COMMIT"]
    chains = [":KUBE-NODEPORTS - [0:0]", ":KUBE-SERVICES - [0:0]", ":KUBE-MARK-MASQ - [0:0]",
              ":KUBE-POSTROUTING - [0:0]"]
    rules = [f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
             f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}",
             '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring '
             'SNAT" -j MASQUERADE --random-fully',
             f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}"]
    for i in range(n_services):
        name = f"ns{i % 10}/svc{i}:p80"
        vip = _service_ip(i)
        svc = _chain_hash("KUBE-SVC-", name + "tcp")
        chains.append(f":{svc} - [0:0]")
        rules.append(f'-A KUBE-SERVICES -m comment --comment "{name} cluster IP" -m tcp -p tcp '
                     f"-d {vip} --dport 80 -j {svc}")
        rules.append(f'-A {svc} -m comment --comment "{name} cluster IP" -m tcp -p tcp '
                     f"-d {vip} --dport 80 ! -s {CLUSTER_CIDR} -j KUBE-MARK-MASQ")
        for j in range(n_endpoints):
            ep = f"{_endpoint_ip(i, j)}:8080"
            sep = _chain_hash("KUBE-SEP-", name + "tcp" + ep)
            chains.append(f":{sep} - [0:0]")
            prob = ""
            if j < n_endpoints - 1:
                prob = f"-m statistic --mode random --probability {1 / (n_endpoints - j):.10f} "
            rules.append(f'-A {svc} -m comment --comment "{name} -> {ep}" {prob}-j {sep}')
            rules.append(f"-A {sep} -m comment --comment {name} -s {ep.split(':')[0]} "
                         "-j KUBE-MARK-MASQ")
            rules.append(f"-A {sep} -m comment --comment {name} -m tcp -p tcp "
                         f"-j DNAT --to-destination {ep}")
    rules.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: '
                 'this must be the last rule in this chain" -m addrtype --dst-type LOCAL '
                 "-j KUBE-NODEPORTS")
    return "\n".join(filt + ["*nat"] + chains + rules + ["COMMIT"]) + "\n"


def cluster_state(n_services: int, n_endpoints: int):
    """The ``ClusterState`` of :func:`generated_payload`: one node, N ClusterIP services with
    E remote endpoints each (built from model objects directly, no manifests)."""
    from sim.model import (ClusterState, Endpoint, EndpointPort, EndpointSlice, KubeProxyConfig,
                           Node, NodeAddress, Service, ServicePort)

    services, slices = [], []
    for i in range(n_services):
        ns, name = f"ns{i % 10}", f"svc{i}"
        services.append(Service(
            namespace=ns, name=name, cluster_ip=_service_ip(i), cluster_ips=(_service_ip(i),),
            ports=(ServicePort(port=80, name="p80", target_port=8080),), creation_index=i))
        eps = tuple(Endpoint(addresses=(_endpoint_ip(i, j),), node_name="other")
                    for j in range(n_endpoints))
        slices.append(EndpointSlice(namespace=ns, name=f"{name}-x", service_name=name,
                                    endpoints=eps, ports=(EndpointPort(8080, name="p80"),)))
    node = Node("node", addresses=(NodeAddress("InternalIP", "192.168.0.2"),),
                pod_cidr="10.244.0.0/24")
    proxy = KubeProxyConfig(cluster_cidr=CLUSTER_CIDR)
    return ClusterState(kube_proxy=proxy, nodes=(node,), services=tuple(services),
                        endpoint_slices=tuple(slices)), proxy


def compiled_payload(n_services: int, n_endpoints: int) -> str | None:
    """The compiler's text for the same cluster, or ``None`` while the compiler
    (``sim.kubeproxy.iptables``) is not importable."""
    try:
        from sim.kubeproxy.iptables import compile_rules
    except ImportError:
        return None
    state, proxy = cluster_state(n_services, n_endpoints)
    return compile_rules(state, "node", proxy).render()


def count_rules(text: str) -> int:
    """Number of ``-A`` lines (rules) in a restore payload."""
    return sum(1 for line in text.splitlines() if line.startswith("-A "))


def count_chains(text: str) -> int:
    """Number of chain declarations (``:NAME ...`` lines) in a restore payload."""
    return sum(1 for line in text.splitlines() if line.startswith(":"))


def machine_facts() -> dict:
    """CPU, cores, kernel, iptables and Python versions."""
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    ipt = subprocess.run(["iptables", "-V"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "iptables": ipt, "python": platform.python_version()}


def fit(points: list[tuple[int, float]]) -> dict:
    """Least-squares ``a + b*r + c*r**2`` weighted by 1/t (relative error); drops a negative
    coefficient and refits so the model never predicts negative or shrinking times."""
    r = np.array([p[0] for p in points], dtype=float)
    t = np.array([p[1] for p in points], dtype=float)
    terms = [0, 1, 2]
    while True:
        design = np.stack([r ** k for k in terms], axis=1) / t[:, None]
        coef, *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
        neg = [k for k, c in zip(terms, coef) if c < 0]
        if not neg or len(terms) == 1:
            break
        terms = [k for k in terms if k != neg[-1]]
    full = {k: 0.0 for k in (0, 1, 2)}
    full.update({k: float(c) for k, c in zip(terms, coef)})
    pred = full[0] + full[1] * r + full[2] * r ** 2
    rel = np.abs(pred - t) / t
    return {"a": full[0], "b": full[1], "c": full[2],
            "max_rel_err": float(rel.max()), "median_rel_err": float(np.median(rel)),
            "rules_min": int(r.min()), "rules_max": int(r.max()), "points": len(points)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=170.0)
    parser.add_argument("--quick", action="store_true", help="N up to 1000 only")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    reason = skip_reason()
    if reason:
        print(f"skipped: {reason}", file=sys.stderr)
        return 2
    sizes = [10, 100, 300, 1000, 3000, 10000]
    if args.quick:
        sizes = [10, 100, 300, 1000]
    endpoints = [3, 10]
    series = [(b, m, e) for e in endpoints for b in ("legacy", "nft") for m in ("full", "noflush")]
    start = time.monotonic()
    rows: list[dict] = []
    skipped: list[dict] = []
    source = "compiler" if compiled_payload(2, 2) is not None else "generated"
    spec = ClusterSpec(nodes=(NodeSpec("node", "192.168.0.2", "10.244.0.0/24"),))
    for backend, mode, e in series:
        last: tuple[int, float] | None = None
        for n in sizes:
            if e == 10 and n > 3000:
                continue
            text = compiled_payload(n, e) or generated_payload(n, e)
            rules = count_rules(text)
            chains = count_chains(text)
            # Skip on a pessimistic (quadratic) extrapolation; pick repeats on a linear one.
            predicted = likely = 0.0
            if last is not None:
                predicted = last[1] * (rules / last[0]) ** 2
                likely = last[1] * rules / last[0]
            left = args.budget_s - (time.monotonic() - start)
            if predicted > left * 0.75:
                skipped.append({"backend": backend, "mode": mode, "services": n,
                                "endpoints": e, "rules": rules, "predicted_s": predicted})
                continue
            repeats = 5 if likely < 0.2 else (3 if likely < 2 else 1)
            with KernelCluster(spec, backend=backend) as kc:
                if mode == "noflush":
                    kc.restore("node", text)
                times = []
                for rep in range(repeats):
                    if mode == "full":
                        kc.restore("node", EMPTY_TABLES)
                    secs = kc.restore("node", text, noflush=(mode == "noflush"))
                    times.append(secs)
                    rows.append({"backend": backend, "mode": mode, "services": n,
                                 "endpoints": e, "rules": rules, "chains": chains, "repeat": rep,
                                 "seconds": round(secs, 6), "source": source})
            med = statistics.median(times)
            last = (rules, med)
            print(f"{backend:6} {mode:7} N={n:5} E={e:2} rules={rules:6} "
                  f"median={med:8.3f}s x{repeats}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "restore_times.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    fits = {}
    for backend in ("legacy", "nft"):
        for mode in ("full", "noflush"):
            pts: dict[tuple[int, int], list[float]] = {}
            for row in rows:
                if row["backend"] == backend and row["mode"] == mode:
                    pts.setdefault((row["rules"], row["services"]), []).append(row["seconds"])
            medians = [(k[0], statistics.median(v)) for k, v in sorted(pts.items())]
            fits[f"{backend}/{mode}"] = fit(medians)
    # ``models``: the shape sim.world.restore loads (first item per backend wins there), so the
    # mode kube-proxy runs (--noflush) comes first.
    models = [
        {"backend": key.split("/")[0], "mode": key.split("/")[1], "intercept_s": f["a"],
         "per_rule_s": f["b"], "per_rule2_s": f["c"], "rules_max": f["rules_max"]}
        for key, f in sorted(fits.items(), key=lambda kv: (kv[0].split("/")[0],
                                                           kv[0].split("/")[1] != "noflush"))
    ]
    model = {
        "models": models,
        "model": "seconds = a + b*rules + c*rules**2",
        "rules": "number of -A lines in the restore payload (nat + filter); kube-proxy's "
                 "ClusterIP payload has 5 + N*(2+3E) nat rules and 3 filter rules",
        "keys": "backend/mode: backend nft (iptables-nft) or legacy; mode full (restore into "
                "empty tables) or noflush (--noflush resync of an unchanged ruleset)",
        "fit": "least squares weighted by 1/seconds over per-point medians",
        "fits": fits,
        "skipped": skipped,
        "payload_source": source,
        "machine": machine_facts(),
        "measured_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": "restore_times.csv",
    }
    (args.out / "restore_model.json").write_text(json.dumps(model, indent=2, sort_keys=True) + "\n")
    print(json.dumps(fits, indent=2, sort_keys=True))
    print(f"total {time.monotonic() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
