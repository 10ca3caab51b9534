"""The text report of a run: flows, servers, kube-proxy syncs, NodePort matrix, expectations."""

from __future__ import annotations

from collections import Counter

from sim.scenario.runner import RunResult
from sim.scenario.stats import percentile


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain fixed-width table (left-aligned text, as ``kubectl get`` prints)."""
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r)]
    lines = ["   ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def _ms(x: float) -> str:
    return f"{x * 1000:.2f}"


def render(result: RunResult, *, brief: bool = False) -> str:
    """The report (``brief``: header, flows and expectations only, for ``demo``)."""
    rec = result.recorder
    sc = result.scenario
    out = [f"scenario {sc.name}  seed {result.seed}  "
           f"simulated {result.plan.duration_s:g} s  connections {len(rec.connections)}  "
           f"nodes {len(result.node_names)}"]
    flows = []
    by_flow: dict[str, list] = {}
    for c in rec.connections:
        by_flow.setdefault(c.flow, []).append(c)
    # The userspace proxy's resets (an accepted connection closed) get their own column.
    resets = result.scenario.kube_proxy.mode == "userspace"
    for f in result.plan.flows:
        cs = by_flow.get(f.name, [])
        n = Counter(c.outcome for c in cs)
        ok = [c.elapsed_s for c in cs if c.outcome == "ok"]
        flows.append([f.name, f"{f.client_kind}:{f.client}", f.target.label, f.proto.upper(),
                      str(len(cs)), str(n["ok"]), str(n["refused"]), str(n["timeout"]),
                      str(n["unresolved"]), str(n["error"]), _ms(percentile(ok, 50)) if ok else "-"]
                     + ([str(n["reset"])] if resets else []))
    if not result.plan.flows:
        out += ["", "(no spec.traffic: nothing was sent; add flows to exercise the Services)"]
    out += ["", "FLOWS", table(["FLOW", "CLIENT", "TARGET", "PROTO", "CONN", "OK", "REFUSED",
                                 "TIMEOUT", "UNRESOLVED", "ERROR", "TTFB-P50-MS"]
                                + (["RESET"] if resets else []), flows)]
    if not brief:
        servers = Counter((c.flow, c.server, c.source_seen) for c in rec.connections if c.outcome == "ok")
        rows = [[f, s, seen, str(n)] for (f, s, seen), n in sorted(servers.items())]
        if rows:
            out += ["", "ANSWERED BY (flow, server, source the server saw)",
                    table(["FLOW", "SERVER", "SOURCE-SEEN", "COUNT"], rows[:60])]
            if len(rows) > 60:
                out.append(f"... {len(rows) - 60} more rows in connections.csv")
        syncs: dict[str, list] = {}
        for s in rec.syncs:
            syncs.setdefault(s.node, []).append(s)
        prog: dict[str, list[float]] = {}
        for p in rec.programming:
            prog.setdefault(p.node, []).append(p.latency_s)
        rows = []
        for node in result.node_names:
            ss = syncs.get(node, [])
            pl = prog.get(node, [])
            full = sum(1 for s in ss if s.full)
            rows.append([node, f"{len(ss)} ({full} full)", _ms(sum(s.duration_s for s in ss) / len(ss)) if ss else "-",
                         str(ss[-1].rules) if ss else "-",
                         _ms(percentile(pl, 50)) if pl else "-", _ms(percentile(pl, 99)) if pl else "-"])
        out += ["", f"KUBE-PROXY (restore model: {result.stats.get('restore_model')})",
                table(["NODE", "SYNCS", "MEAN-SYNC-MS", "RULES", "PROG-P50-MS", "PROG-P99-MS"], rows[:40])]
        if len(rows) > 40:
            out.append(f"... {len(rows) - 40} more nodes in metrics.csv")
        if rec.changes:
            out += ["", "CHANGES", table(["ID", "TIME-S", "CHANGE"],
                                         [[str(c.change_id), f"{c.time_s:.3f}", c.description]
                                          for c in rec.changes[:30]])]
    matrices = [e for e in result.expectations if e.matrix]
    if matrices:
        nodes = sorted({n for e in matrices for n in e.matrix})
        rows = [[e.name] + [_cell(e.matrix.get(n)) for n in nodes] for e in matrices]
        out += ["", "NODEPORT MATRIX (seen, expected in brackets when different)",
                table(["EXPECTATION"] + nodes, rows)]
    rows = [["PASS" if e.passed else "FAIL", e.name, e.detail] for e in result.expectations]
    out += ["", "EXPECTATIONS", table(["RESULT", "NAME", "DETAIL"], rows) if rows else "(none)"]
    failed = sum(1 for e in result.expectations if not e.passed)
    out += ["", f"{len(result.expectations) - failed} passed, {failed} failed"]
    return "\n".join(out)


def _cell(cell: tuple[str, str] | None) -> str:
    if cell is None:
        return "-"
    want, seen = cell
    return seen if want == seen else f"{seen} [{want}]"


def to_json(result: RunResult) -> dict:
    """The report as one JSON-ready object (``run --json``): the same figures as
    :func:`render`, with times in seconds."""
    rec = result.recorder
    by_flow: dict[str, list] = {}
    for c in rec.connections:
        by_flow.setdefault(c.flow, []).append(c)
    flows = []
    for f in result.plan.flows:
        cs = by_flow.get(f.name, [])
        n = Counter(c.outcome for c in cs)
        ok = [c.elapsed_s for c in cs if c.outcome == "ok"]
        servers = Counter(c.server for c in cs if c.outcome == "ok")
        flows.append({"name": f.name, "client": f"{f.client_kind}:{f.client}",
                      "target": f.target.label, "protocol": f.proto.upper(),
                      "connections": len(cs), "ok": n["ok"], "refused": n["refused"],
                      "timeout": n["timeout"], "unresolved": n["unresolved"], "error": n["error"],
                      "ttfb_p50_s": percentile(ok, 50) if ok else None,
                      "answered_by": dict(sorted(servers.items()))})
    syncs: dict[str, list] = {}
    for sy in rec.syncs:
        syncs.setdefault(sy.node, []).append(sy)
    prog: dict[str, list[float]] = {}
    for pr in rec.programming:
        prog.setdefault(pr.node, []).append(pr.latency_s)
    nodes = []
    for node in result.node_names:
        ss, pl = syncs.get(node, []), prog.get(node, [])
        nodes.append({"node": node, "syncs": len(ss), "full_syncs": sum(1 for x in ss if x.full),
                      "mean_sync_s": sum(x.duration_s for x in ss) / len(ss) if ss else None,
                      "rules": ss[-1].rules if ss else None,
                      "programming_p50_s": percentile(pl, 50) if pl else None,
                      "programming_p99_s": percentile(pl, 99) if pl else None})
    expectations = [{"name": e.name, "type": e.type, "passed": e.passed, "detail": e.detail,
                     **({"matrix": {n: {"expected": w, "seen": s} for n, (w, s) in sorted(e.matrix.items())}}
                        if e.matrix else {})} for e in result.expectations]
    failed = sum(1 for e in result.expectations if not e.passed)
    return {"scenario": result.scenario.name, "seed": result.seed,
            "simulated_s": result.plan.duration_s, "connections": len(rec.connections),
            "flows": flows, "kube_proxy": nodes, "expectations": expectations,
            "passed": len(result.expectations) - failed, "failed": failed}
