"""Evaluating ``spec.expect`` after a run.

Each expectation reads the recorded connections of one flow (a flow expanded over nodes,
``<name>@<node>``, is read whole under its base name; optionally only connections started in
``window``), or the programming-latency records, and gives pass/fail with the measured value.

``reachable``         share of connections answered (by a pod matching ``selector``) >= ``atLeast``
``rejected``          share refused (RST / ICMP port unreachable, what REJECT gives) >= ``atLeast``;
                      with ``withinSeconds`` every refusal must come that fast ("at once")
``dropped``           share timed out (what DROP gives) >= ``atLeast``
``reset``             share reset after the handshake (the 1.0 userspace proxy closing a
                      connection it accepted but could not forward) >= ``atLeast``
``latency``           the ``percentile`` (default 50) of answered connections' time to the
                      answer, in seconds, within [``atLeast``, ``atMost``]
``failures``          count of connections not answered within [``atLeast``, ``atMost``]
``spread``            answered connections spread uniformly over the pods matching ``selector``:
                      Pearson chi-square p-value >= ``significance``; the busiest pod's
                      count minus the idlest's <= ``maxImbalance`` and >= ``minImbalance``
                      when given (round robin: 0 or 1; random choice scatters more)
``affinity``          connections grouped into sessions (a gap longer than ``timeoutSeconds``
                      ends one, as ``-m recent --rcheck --seconds`` forgets the client): in each
                      session the share served by its first pod >= ``minShare``; with
                      ``switchAfterTimeout`` sessions must not all land on one pod
``sourceSeen``        share of answered connections where the server saw ``client`` (the
                      client's own address), ``node`` (a node address: masqueraded) or an IP
``programmingLatency`` p50/p99 of network programming latency (all nodes, or ``node``) <= bound
Any expectation may carry ``mode``: it is then checked only in runs of that kube-proxy mode,
so one scenario states what each mode does.

``nodePortMatrix``    for a flow expanded over nodes (``node: "*"``), each node's dominant
                      outcome equals the expected one (``"*"`` for every node)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sim.scenario.sections import OUTCOMES, ExpectSpec
from sim.scenario.stats import chi2_uniform, percentile
from sim.world.recorder import ConnectionRecord, Recorder

OUTCOME_WORD = {v: k for k, v in OUTCOMES.items()}


@dataclass(frozen=True)
class ExpectResult:
    """The verdict on one expectation."""

    name: str
    type: str
    passed: bool
    detail: str
    matrix: dict[str, tuple[str, str]] = field(default_factory=dict)  # node -> (expected, seen)


@dataclass(frozen=True)
class Observed:
    """What the expectations read: records, pod labels, node addresses."""

    recorder: Recorder
    pod_labels: dict[str, dict[str, str]]
    node_ips: frozenset[str]
    node_names: tuple[str, ...]


def _conns(obs: Observed, flow: str, window: tuple[float, float] | None) -> list[ConnectionRecord]:
    prefix = flow + "@"
    out = [c for c in obs.recorder.connections if c.flow == flow or c.flow.startswith(prefix)]
    if window is not None:
        out = [c for c in out if window[0] <= c.start_s <= window[1]]
    return out


def _share(n: int, total: int) -> str:
    return f"{n}/{total} ({100.0 * n / total:.1f}%)" if total else "0/0"


def evaluate(spec: ExpectSpec, obs: Observed) -> ExpectResult:
    """Evaluate one expectation."""
    p = spec.params
    t = spec.type
    if t == "programmingLatency":
        return _programming(spec, obs)
    if t == "nodePortMatrix":
        return _matrix(spec, obs)
    conns = _conns(obs, p["flow"], p.get("window"))
    if not conns:
        return ExpectResult(spec.name, t, False, "no connections recorded for this flow")
    total = len(conns)
    if t in ("reachable", "rejected", "dropped", "reset"):
        want = OUTCOMES[t]
        hits = [c for c in conns if c.outcome == want]
        if t == "reachable" and "selector" in p:
            sel = p["selector"]
            hits = [c for c in hits if _matches(sel, obs.pod_labels.get(c.server, {}))]
        ok = len(hits) >= p["atLeast"] * total - 1e-9
        detail = f"{_share(len(hits), total)} {t}, need >= {100 * p['atLeast']:.1f}%"
        if t == "rejected" and p.get("withinSeconds") is not None and hits:
            slowest = max(c.elapsed_s for c in hits)
            ok = ok and slowest <= p["withinSeconds"]
            detail += f"; slowest refusal {slowest * 1000:.3f} ms (bound {p['withinSeconds'] * 1000:.3f} ms)"
        return ExpectResult(spec.name, t, ok, detail + _others(conns))
    if t == "failures":
        bad = sum(1 for c in conns if c.outcome != "ok")
        ok = bad >= p["atLeast"] and (p["atMost"] is None or bad <= p["atMost"])
        bound = f">= {p['atLeast']}" + (f" and <= {p['atMost']:g}" if p["atMost"] is not None else "")
        return ExpectResult(spec.name, t, ok, f"{bad} of {total} failed, need {bound}" + _others(conns))
    if t == "spread":
        sel = p["selector"]
        pods = sorted(k for k, labels in obs.pod_labels.items() if _matches(sel, labels))
        served = Counter(c.server for c in conns if c.outcome == "ok")
        stray = sorted(s for s in served if s not in pods)
        counts = [served.get(k, 0) for k in pods]
        stat, pval = chi2_uniform(counts)
        ok = not stray and len(pods) > 0 and sum(counts) > 0 and pval >= p["significance"]
        detail = (f"chi2={stat:.2f} dof={max(len(pods) - 1, 0)} p={pval:.4f} "
                  f"(need p >= {p['significance']:g}); counts " +
                  ", ".join(f"{k}={n}" for k, n in zip(pods, counts)))
        if (p.get("maxImbalance") is not None or p.get("minImbalance") is not None) and counts:
            # the most- minus the least-loaded pod (0: exactly even, as round robin gives;
            # random choice scatters)
            imbalance = max(counts) - min(counts)
            need = []
            if p.get("maxImbalance") is not None:
                ok = ok and imbalance <= p["maxImbalance"]
                need.append(f"<= {p['maxImbalance']:g}")
            if p.get("minImbalance") is not None:
                ok = ok and imbalance >= p["minImbalance"]
                need.append(f">= {p['minImbalance']:g}")
            detail += f"; imbalance {imbalance} (need {' and '.join(need)})"
        if stray:
            detail += f"; answered by pods outside the selector: {', '.join(stray)}"
        return ExpectResult(spec.name, t, ok, detail)
    if t == "affinity":
        return _affinity(spec, conns)
    if t == "latency":
        times = [c.elapsed_s for c in conns if c.outcome == "ok"]
        if not times:
            return ExpectResult(spec.name, t, False, "no answered connections" + _others(conns))
        value = percentile(times, p["percentile"])
        return ExpectResult(spec.name, t, _within(value, p),
                            f"p{p['percentile']:g} {value * 1000:.3f} ms, need {_bounds(p, 1000, 'ms')}"
                            + _others(conns))
    if t == "sourceSeen":
        answered = [c for c in conns if c.outcome == "ok"]
        if p["seen"] == "client":
            good = [c for c in answered if c.source_seen == c.client_ip]
        elif p["seen"] == "node":
            good = [c for c in answered if c.source_seen in obs.node_ips]
        else:
            good = [c for c in answered if c.source_seen == p["seen"]]
        seen = Counter(c.source_seen for c in answered).most_common(3)
        ok = bool(answered) and len(good) >= p["atLeast"] * len(answered) - 1e-9
        return ExpectResult(spec.name, t, ok,
                            f"{_share(len(good), len(answered))} saw {p['seen']}; most seen: "
                            + ", ".join(f"{ip} x{n}" for ip, n in seen))
    raise ValueError(f"unknown expectation type {t!r}")


def _within(value: float, p: dict) -> bool:
    return ((p["atLeast"] is None or value >= p["atLeast"] - 1e-12)
            and (p["atMost"] is None or value <= p["atMost"] + 1e-12))


def _bounds(p: dict, scale: float, unit: str) -> str:
    parts = []
    if p["atLeast"] is not None:
        parts.append(f">= {p['atLeast'] * scale:g}{' ' + unit if unit else ''}")
    if p["atMost"] is not None:
        parts.append(f"<= {p['atMost'] * scale:g}{' ' + unit if unit else ''}")
    return " and ".join(parts)


def _others(conns: list[ConnectionRecord]) -> str:
    c = Counter(OUTCOME_WORD.get(x.outcome, x.outcome) for x in conns)
    return " [" + ", ".join(f"{k} {n}" for k, n in sorted(c.items())) + "]"


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _affinity(spec: ExpectSpec, conns: list[ConnectionRecord]) -> ExpectResult:
    p = spec.params
    answered = sorted((c for c in conns if c.outcome == "ok"), key=lambda c: (c.start_s, c.id))
    if not answered:
        return ExpectResult(spec.name, spec.type, False, "no answered connections")
    sessions: list[list[ConnectionRecord]] = [[answered[0]]]
    for prev, cur in zip(answered, answered[1:]):
        if cur.start_s - prev.start_s > p["timeoutSeconds"]:
            sessions.append([])
        sessions[-1].append(cur)
    worst = 1.0
    firsts = []
    for s in sessions:
        first = s[0].server
        firsts.append(first)
        worst = min(worst, sum(1 for c in s if c.server == first) / len(s))
    ok = worst >= p["minShare"] - 1e-9
    detail = (f"{len(sessions)} session(s) of {', '.join(str(len(s)) for s in sessions[:8])}"
              f"{'...' if len(sessions) > 8 else ''} connections; lowest share on the session's "
              f"first pod {100 * worst:.1f}% (need >= {100 * p['minShare']:.1f}%)")
    if p["switchAfterTimeout"]:
        distinct = len(set(firsts))
        ok = ok and len(sessions) > 1 and distinct > 1
        detail += f"; {distinct} distinct pod(s) across sessions (need > 1)"
    return ExpectResult(spec.name, spec.type, ok, detail)


def _programming(spec: ExpectSpec, obs: Observed) -> ExpectResult:
    p = spec.params
    vals = [r.latency_s for r in obs.recorder.programming if not p["node"] or r.node == p["node"]]
    if not vals:
        return ExpectResult(spec.name, spec.type, False, "no programming latency recorded (no changes)")
    ok = True
    parts = [f"{len(vals)} samples"]
    for q, key in ((50, "p50"), (99, "p99")):
        v = percentile(vals, q)
        bound = p[key]
        if bound is not None:
            ok = ok and v <= bound
            parts.append(f"{key}={v * 1000:.1f} ms (bound {bound * 1000:.1f} ms)")
        else:
            parts.append(f"{key}={v * 1000:.1f} ms")
    return ExpectResult(spec.name, spec.type, ok, "; ".join(parts))


def _matrix(spec: ExpectSpec, obs: Observed) -> ExpectResult:
    p = spec.params
    flow = p["flow"]
    cells: dict[str, tuple[str, str]] = {}
    ok = True
    for node in obs.node_names:
        want = p["expect"].get(node, p["expect"].get("*"))
        if want is None:
            continue
        conns = _conns(obs, f"{flow}@{node}", None)
        seen = "none"
        if conns:
            top = sorted(Counter(c.outcome for c in conns).items(), key=lambda kv: (-kv[1], kv[0]))
            seen = OUTCOME_WORD.get(top[0][0], top[0][0])
        cells[node] = (want, seen)
        ok = ok and seen == want
    bad = [n for n, (w, s) in cells.items() if w != s]
    detail = f"{len(cells) - len(bad)}/{len(cells)} nodes as expected"
    if bad:
        detail += "; differ: " + ", ".join(f"{n} expected {cells[n][0]} got {cells[n][1]}" for n in bad)
    return ExpectResult(spec.name, spec.type, ok, detail, cells)
