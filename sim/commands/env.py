"""``kube-netsim env SCENARIO --pod [NAMESPACE/]NAME``: the service environment variables the
kubelet gives that pod at creation (``NAME=VALUE`` lines)."""

from __future__ import annotations

import argparse
import sys

from sim.kubelet.envvars import service_env
from sim.model.errors import SimError
from sim.scenario.spec import load_scenario

HELP = "print the service environment variables a pod gets (NAME=VALUE)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    parser.add_argument("--pod", required=True, metavar="[NAMESPACE/]NAME",
                        help="the pod, as namespace/name or a name in the default namespace")
    parser.add_argument("--seed", type=int, default=None, help="override spec.seed")


def run(args: argparse.Namespace) -> int:
    namespace, sep, name = args.pod.partition("/")
    if not sep:
        namespace, name = "default", args.pod  # as trace --from-pod and kubectl take it
    if not namespace or not name or "/" in name:
        raise SimError(f'--pod: Invalid value: "{args.pod}": must be [NAMESPACE/]NAME')
    state = load_scenario(args.scenario).state(args.seed)
    pod = state.pods_by_key.get(f"{namespace}/{name}")
    if pod is None:
        known = ", ".join(sorted(state.pods_by_key)) or "none"
        raise SimError(f'{args.scenario}: pod "{namespace}/{name}" not found (pods: {known})')
    env = service_env(pod, state.services)
    if not env:
        # The kubelet sets these variables only for Services that existed when the pod was
        # created (and default/kubernetes); say so instead of printing nothing.
        later = [s for s in state.services if s.creation_index > pod.creation_index
                 and (s.namespace == pod.namespace or (s.namespace, s.name) == ("default", "kubernetes"))]
        why = (f"the Services of its namespace ({', '.join(s.name for s in later[:5])}) were created after it"
               if later else "no Service with a cluster IP existed when it was created")
        links = "" if pod.enable_service_links else " (enableServiceLinks: false)"
        print(f'pod "{namespace}/{name}" gets no service environment variables{links}: {why}; '
              "the kubelet sets them only for Services that precede the pod", file=sys.stderr)
        return 0
    for var, value in env:
        print(f"{var}={value}")
    return 0
