"""``kube-netsim dns SCENARIO --port 5353``: serve the scenario's cluster DNS records over real
UDP and TCP on 127.0.0.1, so ``dig @127.0.0.1 -p 5353 my-service.default.svc.cluster.local``
shows what CoreDNS would answer. Out-of-zone names are answered from ``spec.dns.upstream`` or
NXDOMAIN: nothing is forwarded.

``kube-netsim dns SCENARIO --lookup NAME --pod NAMESPACE/NAME [--resolver musl]`` instead
prints the pod's resolv.conf and every query its resolver sends for NAME, with the answers:
what a lookup costs from that pod."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from sim.dns.config import DNSOptions, parse_dns_options
from sim.dns.resolver import StubResolver
from sim.dns.server import DNSHandler, DNSServer
from sim.kubelet.hosts import pod_hosts_entries
from sim.model.errors import SimError, ValidationError
from sim.scenario.spec import line_of, load_scenario, read_documents

HELP = "serve the scenario's cluster DNS over UDP and TCP on 127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    parser.add_argument("--port", type=int, default=5353, help="UDP and TCP port (default 5353; "
                        "0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--seed", type=int, default=None, help="override spec.seed")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="stop after this many seconds (default: until interrupted)")
    parser.add_argument("--lookup", metavar="NAME",
                        help="do not serve: show the queries a pod's resolver sends for NAME")
    parser.add_argument("--pod", metavar="NAMESPACE/NAME", help="the pod for --lookup")
    parser.add_argument("--resolver", choices=("glibc", "musl"), default="glibc",
                        help="the pod's libc for --lookup (default glibc)")
    parser.add_argument("--family", choices=("UNSPEC", "INET", "INET6"), default="UNSPEC",
                        help="getaddrinfo family for --lookup (default UNSPEC: A and AAAA)")


def run(args: argparse.Namespace) -> int:
    if args.lookup is not None:
        return _lookup(args)
    try:
        host_ip = ipaddress.ip_address(args.host)
    except ValueError:
        raise SimError(f'--host: Invalid value: "{args.host}": must be an IP address') from None
    if not host_ip.is_loopback:
        raise SimError(f'--host: Invalid value: "{args.host}": only loopback addresses are '
                       "served (127.0.0.0/8 or ::1)")
    if not 0 <= args.port <= 65535:
        raise SimError(f"--port: Invalid value: {args.port}: must be in 0..65535")
    scenario = load_scenario(args.scenario)
    options = dns_options(scenario)
    records = options.cluster_dns(scenario.state(args.seed))
    server = DNSServer(DNSHandler(records, cache=options.make_cache(),
                                  loadbalance=options.loadbalance), host=args.host, port=args.port)
    stop = threading.Event()
    # SIGTERM (kill, systemd, a test harness) stops as cleanly as Ctrl-C: a process started in
    # the background or under nohup ignores SIGINT, so SIGTERM is the signal that must work.
    # Installed before the "serving" line, so a SIGTERM sent on seeing it is never lost.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        server.start()
    except OSError as exc:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        raise SimError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(f"serving zone {records.zone}. for {scenario.name} on {args.host}:{server.port} "
          "(udp, tcp)", flush=True)
    try:
        if stop.wait(args.duration):
            print("stopped (SIGTERM)", file=sys.stderr)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _lookup(args: argparse.Namespace) -> int:
    """Print the pod's resolv.conf, each query with its answer, and the outcome."""
    if not args.pod:
        raise SimError("--lookup needs --pod NAMESPACE/NAME")
    namespace, sep, name = args.pod.partition("/")
    if not sep or not namespace or not name:
        raise SimError(f'--pod: Invalid value: "{args.pod}": must be NAMESPACE/NAME')
    scenario = load_scenario(args.scenario)
    options = dns_options(scenario)
    state = scenario.state(args.seed)
    records = options.cluster_dns(state)
    pod = state.pods_by_key.get(f"{namespace}/{name}")
    if pod is None:
        raise SimError(f'{args.scenario}: pod "{namespace}/{name}" not found')
    node = state.node(pod.node_name) if pod.node_name else None
    rc = options.pod_resolv_conf(pod, list(records.dns_service_ips), records.zone,
                                 node.ips if node is not None else ())
    resolver = StubResolver(rc, args.resolver, pod_hosts_entries(pod, records.zone))
    print("# /etc/resolv.conf of " + pod.key)
    print(rc.render(), end="")
    answer = records.answer
    server = rc.nameservers[0] if rc.nameservers else "127.0.0.1"  # glibc's default server
    if server not in records.dns_service_ips:
        # Not the cluster DNS (dnsPolicy Default, or None with other servers): the node's
        # resolver knows spec.dns.upstream and nothing of the cluster zone.
        print(f"# nameserver {server} is outside the cluster: answers from spec.dns.upstream")
        answer = records.upstream_answer
    lookup = resolver.start(args.lookup, args.family)
    if lookup.from_hosts:
        print(f"# {args.lookup}: answered from /etc/hosts: " + " ".join(lookup.addresses))
        return 0
    sent = 0
    while not lookup.done:
        for qname, qtype in lookup.pending():
            sent += 1
            reply = answer(qname, qtype)
            shown = " ".join(reply.addresses(qtype)) or ("NODATA" if reply.is_nodata
                                                         else reply.rcode)
            print(f"{sent:>3}  {qtype:<5} {qname:<60} {shown}")
            lookup.feed(qname, qtype, reply)
    result = " ".join(lookup.addresses) if lookup.addresses else lookup.error
    print(f"# {lookup.queries_sent} queries ({args.resolver}): {result}")
    return 0 if lookup.addresses else 1


def dns_options(scenario) -> DNSOptions:
    """``spec.dns`` checked, errors located at their line in the scenario file."""
    try:
        return parse_dns_options(scenario.dns, str(scenario.path))
    except ValidationError as exc:
        root = read_documents(Path(scenario.path))[0][1]
        raise ValidationError([replace(e, line=line_of(root, e.field)) for e in exc.errors]) \
            from None
