"""``kube-netsim env SCENARIO --pod NAMESPACE/NAME``: the service environment variables the
kubelet gives that pod at creation (``NAME=VALUE`` lines)."""

from __future__ import annotations

import argparse

from sim.kubelet.envvars import service_env
from sim.model.errors import SimError
from sim.scenario.spec import load_scenario

HELP = "print the service environment variables a pod gets (NAME=VALUE)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    parser.add_argument("--pod", required=True, metavar="NAMESPACE/NAME",
                        help="the pod, as namespace/name")
    parser.add_argument("--seed", type=int, default=None, help="override spec.seed")


def run(args: argparse.Namespace) -> int:
    namespace, sep, name = args.pod.partition("/")
    if not sep or not namespace or not name:
        raise SimError(f'--pod: Invalid value: "{args.pod}": must be NAMESPACE/NAME')
    state = load_scenario(args.scenario).state(args.seed)
    pod = state.pods_by_key.get(f"{namespace}/{name}")
    if pod is None:
        known = ", ".join(sorted(state.pods_by_key)) or "none"
        raise SimError(f'{args.scenario}: pod "{namespace}/{name}" not found (pods: {known})')
    for var, value in service_env(pod, state.services):
        print(f"{var}={value}")
    return 0
