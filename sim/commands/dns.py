"""``kube-netsim dns SCENARIO --port 5353``: serve the scenario's cluster DNS records over real
UDP and TCP on 127.0.0.1, so ``dig @127.0.0.1 -p 5353 my-service.default.svc.cluster.local``
shows what CoreDNS would answer. Out-of-zone names are answered from ``spec.dns.upstream`` or
NXDOMAIN: nothing is forwarded."""

from __future__ import annotations

import argparse
import ipaddress
import sys
import threading

from sim.dns.config import parse_dns_options
from sim.dns.server import DNSHandler, DNSServer
from sim.model.errors import SimError
from sim.scenario.spec import load_scenario

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


def run(args: argparse.Namespace) -> int:
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
    options = parse_dns_options(scenario.dns, str(scenario.path))
    records = options.cluster_dns(scenario.state(args.seed))
    server = DNSServer(DNSHandler(records, cache=options.make_cache(),
                                  loadbalance=options.loadbalance), host=args.host, port=args.port)
    try:
        server.start()
    except OSError as exc:
        raise SimError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(f"serving zone {records.zone}. for {scenario.name} on {args.host}:{server.port} "
          "(udp, tcp)", flush=True)
    stop = threading.Event()
    try:
        stop.wait(args.duration)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.stop()
    return 0
