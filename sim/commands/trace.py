"""``kube-netsim trace [SCENARIO] --node NODE --src IP[:PORT] --dst IP --dport PORT ...``.

Traces the first packet of a connection through one node's netfilter, like ``iptables -j
TRACE``: every rule the packet hits (table, chain, rule number, rule as iptables-save prints
it), then the outcome. Where ``statistic`` makes the path branch, every branch is printed
with its exact probability (the kernel's 31-bit fraction, see :mod:`sim.netfilter.tracer`);
where ``recent`` (ClientIP affinity) would branch, the outcomes for a client already in a
list are printed too, with their condition and no probability.

Rules come from the scenario (kube-proxy's bootstrap jump rules plus
``sim.kubeproxy.iptables.compile_rules`` for ``--node``; in nftables mode the table
``sim.kubeproxy.nftables.compile_nft`` programs, see :mod:`sim.commands.trace_nft`), or from
a real node's ``iptables-save`` file or ``nft list ruleset`` dump with ``--rules FILE``
(recognised by its first statement; no scenario needed). In nftables mode each rule hit is
named by table (``ip kube-proxy``), chain and position and printed as ``nft list`` prints it;
``numgen`` branches carry the kernel's exact probabilities and affinity-set lookups the
"client already in set" condition.

A dump whose rules match ipsets (``-m set``, as Calico, Weave and kube-proxy's IPVS mode write
them) takes the node's ``ipset save`` output with ``--ipsets FILE``; a set the rules name but
that file does not hold is traced as empty, with a warning naming it and its first line.

The node's addresses: with a scenario, its InternalIP/ExternalIP and the first address of its
pod CIDR (the pod bridge); with ``--rules``, the ``--local-ip`` options, or else inferred:
the ``--dst`` when it is not a Service address in the rules and ``--dport`` is a NodePort of
``KUBE-NODEPORTS``. A ``--src`` that is one of those addresses or in 127.0.0.0/8 is locally
generated (OUTPUT path); any other source arrives on the node (PREROUTING), on ``cni0`` for a
pod of this node and ``eth0`` otherwise. ``--external`` makes the source a client outside the
cluster arriving on ``eth0``: ``--src``'s address when given (refused if it is the node's own
or a pod's address), else 203.0.113.10.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import itertools
import json
import sys
from fractions import Fraction
from pathlib import Path

from sim.commands import trace_nft
from sim.commands.options import add_mode_argument, require_built_mode, require_engine_mode, with_mode
from sim.iptables import SourcedPayload, apply_payload, parse_restore_lines
from sim.iptables.ruleset import Ruleset
from sim.commands.trace_userspace import proxy_choice, render_proxy, userspace_ruleset
from sim.model.errors import SimError, quote
from sim.model.packet import Packet
from sim.netfilter import Outcome, Route, trace_packet
from sim.nftables.ruleset import NftRuleset
from sim.scenario.inputfile import (
    MAX_RULES_BYTES,
    decode_text,
    open_input,
    read_input,
    text_lines,
)

HELP = ("trace a packet through a node's iptables or nftables rules, every branch with its "
        "probability")

DEFAULT_SPORT = 40000
EXTERNAL_CLIENT = "203.0.113.10"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", nargs="?", help="scenario YAML file (not with --rules)")
    parser.add_argument("--node", help="node name (default: the first node of the cluster)")
    parser.add_argument("--seed", type=int, default=None,
                        help="override spec.seed (the ClusterIPs and NodePorts allocated, as in show "
                             "and run; in userspace mode also the proxy ports and the load "
                             "balancer's shuffle)")
    add_mode_argument(parser)
    parser.add_argument("--rules", metavar="FILE",
                        help="trace a real node's iptables-save / iptables-restore file or "
                             "nft list ruleset dump")
    parser.add_argument("--local-ip", action="append", default=[], metavar="IP",
                        help="an address of the node (repeatable; with --rules)")
    parser.add_argument("--route", action="append", default=[], metavar="CIDR=IFACE",
                        help="with --rules: packets to CIDR leave on IFACE (repeatable; the "
                             "most specific wins; default eth0), e.g. 172.17.0.0/16=docker0")
    parser.add_argument("--ipsets", metavar="FILE",
                        help="the node's `ipset save` output, for rules that match ipsets "
                             "(-m set; with --rules)")
    parser.add_argument("--src", help=f"source IP[:PORT] (port default {DEFAULT_SPORT})")
    parser.add_argument("--dst", required=True, help="destination IP")
    parser.add_argument("--dport", required=True, type=int, help="destination port")
    parser.add_argument("--proto", default="tcp", choices=("tcp", "udp", "sctp"))
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--from-pod", metavar="NAME",
                     help="the source is this pod ([NAMESPACE/]NAME; its IP unless --src)")
    who.add_argument("--external", action="store_true",
                     help=f"the source is outside the cluster: --src's address, else {EXTERNAL_CLIENT}")
    parser.add_argument("--in-iface", metavar="IFACE",
                        help="the interface the packet arrives on (default: cni0 for a pod of "
                             "this node, else eth0; e.g. a pod's veth or a bridge for -m physdev)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _split_src(text: str) -> tuple[str, int]:
    ip, _, port = text.partition(":")
    try:
        ipaddress.IPv4Address(ip)
        sport = int(port) if port else DEFAULT_SPORT
    except ValueError:
        raise SimError(f"--src: Invalid value: {quote(text)}: expected IPv4[:PORT]") from None
    if not 0 < sport < 65536:
        raise SimError(f"--src: Invalid value: {quote(text)}: port must be 1-65535")
    return ip, sport


def _check_ip(flag: str, text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise SimError(f"{flag}: Invalid value: {quote(text)}: expected an IPv4 address") from None


class _Setup:
    """Everything the trace needs besides the packet."""

    def __init__(self, ruleset: Ruleset, local: list[str], route, node: str,
                 pod_ips: dict[str, tuple[str, bool]], note: str, ipsets: tuple = (),
                 warning: str = "", nft=None, proxy=None) -> None:
        self.proxy = proxy  # userspace mode: (outcomes, client ip) -> the proxy's choices
        # A pod packet arrives on the bridge, whose address REDIRECT uses (the portal rules).
        self.iface_addresses = {"cni0": local[-1]} if len(local) > 1 and proxy else None
        self.ruleset = ruleset
        self.ipsets = ipsets
        self.warning = warning
        self.nft = nft  # an NftRuleset in nftables mode
        self.ipvs = None
        self.local = local
        self.route = route
        self.node = node
        self.pod_ips = pod_ips  # pod name -> (ip, on this node)
        self.note = note
        self.ipvs: tuple | None = None  # IPVS mode: (state, ipsets, table); see trace_ipvs


def _from_scenario(args: argparse.Namespace) -> _Setup:
    from sim.kubeproxy.iptables import bootstrap_payload, compile_rules
    from sim.scenario.spec import load_scenario

    if args.node == "":
        raise SimError('--node: Required value: an empty node name (omit --node for the first node)')
    scenario = with_mode(load_scenario(args.scenario), args.mode)
    state = scenario.state(args.seed)
    names = [n.name for n in state.nodes]
    if not names:
        raise SimError(f"{args.scenario}: the cluster has no nodes")
    node_name = args.node or names[0]
    node = state.node(node_name)
    if node is None:
        raise SimError(f"--node: Not found: {quote(node_name)}: the cluster's nodes are "
                       f"{', '.join(names)}")
    require_built_mode(state.kube_proxy.mode, "--mode" if args.mode else args.scenario)
    require_engine_mode(state.kube_proxy.mode, "--mode" if args.mode else args.scenario)
    proxy = None
    ipvs = None
    nft = None
    if state.kube_proxy.mode == "userspace":
        seed = scenario.seed if args.seed is None else args.seed
        ruleset = userspace_ruleset(state, node_name, seed)

        def proxy(outcomes, client_ip):
            return proxy_choice(state, node_name, seed, outcomes, client_ip)
    elif state.kube_proxy.mode == "ipvs":
        from sim.commands import trace_ipvs
        ruleset, _bound, ipsets, table = trace_ipvs.setup(state, node_name)
        ipvs = (state, ipsets, table)
    elif state.kube_proxy.mode == "nftables":
        ruleset, nft = Ruleset(), trace_nft.scenario_rules(state, node_name)
    else:
        base = apply_payload(bootstrap_payload(state.kube_proxy), noflush=True)
        ruleset = apply_payload(compile_rules(state, node_name), base, noflush=True)
    lan = node.internal_ip
    local = list(node.ips)
    pod_net = ipaddress.IPv4Network(node.pod_cidr) if node.pod_cidr else None
    bridge = str(next(pod_net.hosts())) if pod_net is not None else ""
    if bridge:
        local.append(bridge)

    def route(dst: str) -> Route:
        if pod_net is not None and ipaddress.IPv4Address(dst) in pod_net:
            return Route("cni0", bridge)
        return Route("eth0", lan)

    pods = {}
    for p in state.pods:
        if p.pod_ip:
            on_node = p.node_name == node_name
            pods[p.name] = (p.pod_ip, on_node)
            pods[f"{p.namespace}/{p.name}"] = (p.pod_ip, on_node)
    out = _Setup(ruleset, local, route, node_name, pods, "", nft=nft, proxy=proxy)
    out.ipvs = ipvs
    return out


RULES_TEXT = "iptables-save and nft write UTF-8 text; re-encode the file"


def read_rules_file(name: str) -> SourcedPayload | NftRuleset:
    """The ``--rules`` file (checked as :func:`~sim.scenario.inputfile.read_input` checks
    it): the parsed iptables-save payload, or the applied nft ruleset when the file is nft
    text (recognised by its first statement). iptables-save text is streamed line by line into
    :func:`~sim.iptables.parse_restore_lines`: a real node's dump can have a million lines,
    and its text is never held whole."""
    shown = f"--rules: {name}"
    with open_input(name, shown, MAX_RULES_BYTES) as raw:
        try:
            lines = text_lines(raw, shown, RULES_TEXT)
            head: list[str] = []
            for line in lines:
                head.append(line)
                if line.strip() and not line.lstrip().startswith("#"):
                    break
            if trace_nft.is_nft_text("\n".join(head)):
                text = "\n".join(itertools.chain(head, lines)) + "\n"
                return trace_nft.rules_from_file(text, str(Path(name)))
            return parse_restore_lines(itertools.chain(head, lines), str(Path(name)))
        except OSError as exc:
            raise SimError(f"{shown}: cannot read: {exc.strerror}") from None


def _from_rules(args: argparse.Namespace) -> _Setup:
    rules = read_rules_file(args.rules)
    nft = rules if isinstance(rules, NftRuleset) else None
    ruleset = Ruleset() if nft is not None else apply_payload(rules)
    del rules
    # The ruleset lives until the command ends and holds no cycles: keep the cyclic
    # collector from scanning its millions of objects again at every later collection.
    gc.freeze()
    local = [_check_ip("--local-ip", ip) for ip in args.local_ip]
    note = ""
    if not local:
        local = (trace_nft.infer_local(nft, _check_ip("--dst", args.dst), args.dport)
                 if nft is not None else _infer_local(ruleset, args.dst, args.dport))
        note = ("node addresses inferred: " + (", ".join(local) if local else "none")
                + " (give them with --local-ip)")
    primary = local[0] if local else "127.0.0.1"
    routes = sorted((_parse_route(r) for r in args.route), key=lambda nr: -nr[0].prefixlen)

    def route(dst: str) -> Route:
        addr = ipaddress.IPv4Address(dst)
        iface = next((i for net, i in routes if addr in net), "eth0")
        return Route(iface, primary)
    ipsets, warning = _ipsets(args, ruleset)
    return _Setup(ruleset, local, route, args.node or "node", {}, note, ipsets, warning,
                  nft)


def _parse_route(text: str) -> tuple[ipaddress.IPv4Network, str]:
    cidr, sep, iface = text.partition("=")
    try:
        net = ipaddress.IPv4Network(cidr, strict=False)
    except ValueError:
        net = None
    if not sep or net is None or not iface or len(iface) > 15:
        raise SimError(f'--route: Invalid value: "{text}": expected CIDR=IFACE, e.g. 172.17.0.0/16=docker0')
    return net, iface


def _ipsets(args: argparse.Namespace, ruleset: Ruleset) -> tuple[tuple, str]:
    """The sets of ``--ipsets`` and a warning naming the sets the rules match on but the file
    does not hold (they are traced as empty: every ``-m set`` on them is "not a member")."""
    from sim.ipset import parse_restore as parse_ipsets
    from sim.netfilter.setmatch import missing_sets

    sets: tuple = ()
    if args.ipsets:
        data = read_input(Path(args.ipsets), f"--ipsets: {args.ipsets}", MAX_RULES_BYTES)
        text = decode_text(data, f"--ipsets: {args.ipsets}", "ipset save writes UTF-8 text; re-encode the file")
        sets = parse_ipsets(text, args.ipsets)
    missing = missing_sets(ruleset, (s.name for s in sets))
    if not missing:
        return sets, ""
    where = ", ".join(f"{name} (line {uses[0][2]})" for name, uses in missing.items())
    hint = "not in --ipsets" if args.ipsets else "give the node's `ipset save` output with --ipsets FILE"
    return sets, (f"warning: the rules match ipsets that were not given, traced as empty: {where}; "
                  + hint)


def _infer_local(ruleset: Ruleset, dst: str, dport: int) -> list[str]:
    """The --dst is a node address when no rule names it with ``-d`` and ``--dport`` is a
    NodePort of the nat KUBE-NODEPORTS chain."""
    nat = ruleset.tables.get("nat")
    if nat is None:
        return []
    named: set[str] = set()
    nodeports: set[int] = set()
    for chain in nat.chains.values():
        for rule in chain.rules:
            for m in rule.matches:
                for o in m.options:
                    if o.name == "-d" and not o.negated:
                        named.add(o.values[0].removesuffix("/32"))
                    if (chain.name == "KUBE-NODEPORTS" and o.name == "--dport"
                            and o.values[0].isdigit()):
                        nodeports.add(int(o.values[0]))
    return [dst] if dst not in named and dport in nodeports else []


def _probability(p: Fraction | None) -> str:
    return "p=?" if p is None else f"p={format(float(p), '.10g')}"


def _describe(o: Outcome) -> str:
    where = o.destination or f"{o.packet.dst}:{o.packet.dport}"
    text = f"{o.verdict.value}"
    if o.reject_with:
        text += f" ({o.reject_with})"
    if o.verdict.value == "ACCEPT":
        text += f" -> {where}" + (" (local)" if o.local else "")
        text += f" from {o.packet.src}:{o.packet.sport}"
        text += " masquerade" if o.masquerade else ""
    return text


def render_text(header: str, outcomes: list[Outcome], walk: str = "rules") -> str:
    """The human-readable trace (``walk``: what a walk length counts)."""
    lines = [header]
    for i, o in enumerate(outcomes, 1):
        cond = f"  if {'; '.join(o.conditions)}" if o.conditions else ""
        lines.append(f"branch {i}: {_probability(o.probability)}{cond}")
        for step in o.trail:
            lines.append(f"  {step.render()}")
        lines.append(f"  => {_describe(o)}  (kernel walk {o.walk_length} {walk})")
    lines.append("outcomes:")
    for o in outcomes:
        where = o.destination or (o.reject_with or o.verdict.value)
        if o.verdict.value == "ACCEPT" and not o.destination:
            where = f"{o.packet.dst}:{o.packet.dport} ({'local' if o.local else 'forwarded'})"
        cond = f"  if {'; '.join(o.conditions)}" if o.conditions else ""
        mark = " masquerade" if o.masquerade else ""
        lines.append(f"  {where} {_probability(o.probability)}{mark}{cond}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    if bool(args.rules) == bool(args.scenario):
        raise SimError("give either a SCENARIO or --rules FILE")
    if args.rules and args.seed is not None:
        raise SimError("--seed: a real node's rules are fixed; --seed only goes with a SCENARIO")
    if args.ipsets and not args.rules:
        raise SimError("--ipsets goes with --rules FILE (a scenario's ipsets come from its compiler)")
    setup = _from_rules(args) if args.rules else _from_scenario(args)
    dst = _check_ip("--dst", args.dst)
    if not 0 < args.dport < 65536:
        raise SimError(f"--dport: Invalid value: {args.dport}: must be 1-65535")
    in_iface = "eth0"
    if args.from_pod:
        if args.from_pod not in setup.pod_ips:
            known = sorted(k for k in setup.pod_ips if "/" in k)
            raise SimError(f"--from-pod: Not found: {quote(args.from_pod)}"
                           + (f": pods are {', '.join(known)}" if known else
                              ": no pods (use --src)"))
        ip, on_node = setup.pod_ips[args.from_pod]
        src, sport = _split_src(args.src) if args.src else (ip, DEFAULT_SPORT)
        in_iface = "cni0" if on_node else "eth0"
    elif args.external:
        # --external --src IP: a client outside the cluster with that address, arriving on
        # eth0. An address of this node or of a pod cannot be outside the cluster.
        src, sport = _split_src(args.src) if args.src else (EXTERNAL_CLIENT, DEFAULT_SPORT)
        if src in setup.local or src.startswith("127."):
            raise SimError(f"--external with --src {args.src}: the address is this node's own, "
                           "not outside the cluster (drop --external to trace a local packet)")
        if any(ip == src for ip, _ in setup.pod_ips.values()):
            raise SimError(f"--external with --src {args.src}: the address is a pod's, not "
                           "outside the cluster (use --from-pod or drop --external)")
    elif args.src:
        src, sport = _split_src(args.src)
        if any(ip == src and on_node for ip, on_node in setup.pod_ips.values()):
            in_iface = "cni0"  # a pod of this node, named by its address
    else:
        raise SimError("--src is required (or --from-pod NAME / --external)")
    local_out = src in setup.local or src.startswith("127.")
    if args.in_iface is not None:
        if local_out:
            raise SimError(f'--in-iface: Invalid value: "{args.in_iface}": a packet from the '
                           "node's own address is locally generated (OUTPUT), it arrives on no interface")
        if not args.in_iface or len(args.in_iface) > 15 or "/" in args.in_iface or " " in args.in_iface:
            raise SimError(f'--in-iface: Invalid value: "{args.in_iface}": an interface name '
                           "of 1-15 characters")
        in_iface = args.in_iface
    packet = Packet(args.proto, src, dst, sport, args.dport, "S" if args.proto == "tcp" else "",
                    in_iface="" if local_out else in_iface)
    if setup.ipvs is not None:
        from sim.commands import trace_ipvs
        state, ipsets, table = setup.ipvs
        outcomes = trace_ipvs.trace(state, setup.ruleset, setup.local, ipsets, table, packet,
                                    local_out=local_out, in_iface=in_iface, route=setup.route)
    else:
        outcomes = trace_packet(setup.ruleset, setup.local, packet, local_out=local_out,
                                in_iface=in_iface, route=setup.route, ipsets=setup.ipsets,
                                nft=setup.nft, iface_addresses=setup.iface_addresses)
    path = "OUTPUT (locally generated)" if local_out else f"PREROUTING (arriving on {in_iface})"
    choices = setup.proxy(outcomes, src) if setup.proxy is not None else None
    if args.json:
        if setup.warning:
            print(setup.warning, file=sys.stderr)
        doc = {
            "node": setup.node, "packet": {"proto": args.proto, "src": f"{src}:{sport}",
                                           "dst": f"{dst}:{args.dport}"},
            "path": "OUTPUT" if local_out else "PREROUTING", "local_addresses": setup.local,
            "outcomes": [o.to_json() for o in outcomes]}
        if choices is not None:
            doc["proxy"] = choices
        print(json.dumps(doc, indent=2))
        return 0
    header = (f"trace {args.proto} {src}:{sport} -> {dst}:{args.dport} on {setup.node}: "
              f"{path}; node addresses {', '.join(setup.local) or 'none'}")
    if setup.note:
        header += f"\n{setup.note}"
    if setup.warning:
        header += f"\n{setup.warning}"
    walk = "rules and lookups" if setup.nft is not None else "rules"
    print(render_text(header, outcomes, walk), end="")
    if choices is not None:
        print(render_proxy(choices), end="")
    return 0
