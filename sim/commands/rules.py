"""``kube-netsim rules SCENARIO --node NODE [--format restore|save] [--stats]``.

Prints what kube-proxy (iptables mode) writes on a node of the scenario's cluster:

``restore`` (default)
    the ``iptables-restore`` payload of a full sync, exactly as kube-proxy writes it;
``save``
    what a real ``iptables-save`` prints on that node after kube-proxy's bootstrap (jump rules,
    ``KUBE-PROXY-CANARY`` chains) and that payload were loaded (addresses with ``/32``, ``-p`` before the matches, 11-decimal
    probabilities, ``--set-xmark`` marks), without its ``#`` timestamp lines, so it can be diffed
    against a real node's dump.

``--stats`` prints chain and rule counts per table instead of the rules; ``--nfacct`` models a
node where kube-proxy's nfacct counters exist.

In nftables mode (``spec.kubeProxy.mode: nftables`` or ``--mode nftables``) the command prints
the ``nft -f`` transaction instead (``--format nft``; :mod:`sim.commands.rules_nft`). In IPVS
mode the IPVS proxier's payload, ``ipset save`` or ``ipvsadm-save -n`` text
(:mod:`sim.commands.rules_ipvs`).
"""

from __future__ import annotations

import argparse

from sim.iptables import apply_payload, render_save
from sim.kubeproxy.iptables import bootstrap_payload, compile_rules, rule_stats
from sim.commands.options import add_mode_argument, require_built_mode, with_mode
from sim.commands.rules_userspace import userspace_rules
from sim.model.errors import SimError, quote
from sim.scenario.spec import load_scenario

HELP = ("print the rules kube-proxy writes on a node (iptables: restore payload or "
        "iptables-save form; nftables: the nft -f transaction; ipvs: payload, ipset save, "
        "ipvsadm-save -n)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="scenario YAML file")
    parser.add_argument("--node", help="node name (default: the first node of the cluster)")
    parser.add_argument("--seed", type=int, default=None,
                        help="override spec.seed (the ClusterIPs and NodePorts allocated, as in show "
                             "and run; in userspace mode also the proxy ports)")
    add_mode_argument(parser)
    parser.add_argument("--format", choices=("restore", "save", "nft", "ipset", "ipvsadm", "commands"),
                        default=None,
                        help="iptables mode: restore (kube-proxy's iptables-restore input, the "
                             "default) or save (what iptables-save shows after loading it); "
                             "nftables mode: nft (the nft -f transaction, the default); "
                             "ipvs mode: restore, save, ipset (what ipset save shows) or "
                             "ipvsadm (what ipvsadm-save -n shows); userspace mode: save (the "
                             "default), restore or commands (the iptables invocations)")
    parser.add_argument("--stats", action="store_true", help="print rule and chain counts per table")
    parser.add_argument("--nfacct", action="store_true",
                        help="the node has kube-proxy's nfacct counters (adds -m nfacct to the "
                             "localhost NodePort and INVALID-drop rules, as on most real nodes)")


def render(payload, fmt: str) -> str:
    """The text of ``payload`` in ``fmt`` (``restore`` or ``save``)."""
    if fmt == "restore":
        return payload.render()
    node = apply_payload(bootstrap_payload(canary=True), noflush=True)
    return render_save(apply_payload(payload, node, noflush=True))


def format_stats(payload) -> str:
    """The ``--stats`` table."""
    lines = [f"{'table':<8} {'chains':>7} {'rules':>7} {'deleted':>8}  per-service chains"]
    for s in rule_stats(payload):
        kinds = ", ".join(f"{k.rstrip('-')} {n}" for k, n in s.chains_by_prefix) or "-"
        lines.append(f"{s.table:<8} {s.chains:>7} {s.rules:>7} {s.deleted_chains:>8}  {kinds}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.node == "":
        raise SimError('--node: Required value: an empty node name (omit --node for the first node)')
    scenario = with_mode(load_scenario(args.scenario), args.mode)
    state = scenario.state(args.seed)
    names = [n.name for n in state.nodes]
    if not names:
        raise SimError(f"{args.scenario}: the cluster has no nodes")
    node = args.node or names[0]
    if state.node(node) is None:
        raise SimError(f"--node: Not found: {quote(node)}: the cluster's nodes are {', '.join(names)}")
    require_built_mode(state.kube_proxy.mode, "--mode" if args.mode else args.scenario)
    if state.kube_proxy.mode == "userspace":
        seed = scenario.seed if args.seed is None else args.seed
        print(userspace_rules(state, node, seed, args.format or "save", args.stats), end="")
        return 0
    if state.kube_proxy.mode == "nftables":
        from sim.commands import rules_nft
        print(rules_nft.run(state, node, args), end="")
        return 0
    fmt = args.format or "restore"
    if state.kube_proxy.mode == "ipvs":
        from sim.commands import rules_ipvs
        from sim.kubeproxy.ipvs import compile_ipvs

        if args.nfacct:
            raise SimError("--nfacct: the IPVS proxier writes no nfacct rules (iptables mode only)")
        if args.format not in (None, *rules_ipvs.FORMATS):
            raise SimError(f'--format: Unsupported value: "{args.format}": supported values in '
                           "ipvs mode: " + ", ".join(f'"{f}"' for f in rules_ipvs.FORMATS))
        ipvs_rules = compile_ipvs(state, node)
        print(rules_ipvs.format_stats(ipvs_rules) if args.stats
              else rules_ipvs.render(ipvs_rules, fmt), end="")
        return 0
    if fmt not in ("restore", "save"):
        only = {"nft": "nftables", "ipset": "ipvs", "ipvsadm": "ipvs", "commands": "userspace"}[fmt]
        raise SimError(f'--format: Unsupported value: "{fmt}": supported values in iptables '
                       f'mode: "restore", "save" ("{fmt}" is only in {only} mode: --mode {only})')
    payload = compile_rules(state, node, nfacct=args.nfacct)
    print(format_stats(payload) if args.stats else render(payload, fmt), end="")
    return 0
