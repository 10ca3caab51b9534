"""``kube-netsim validate SCENARIO...``: check scenarios as the apiserver would.

Prints every error as ``file:line: Kind namespace/name: field.path: Type: value: detail``
(warnings, such as skipped unknown kinds or a LoadBalancer left pending, on stderr) and exits
1 if any scenario has an error. Schema and strict-decoding errors do not hide the apiserver's
errors for the objects that decoded: everything found is printed at once.
"""

from __future__ import annotations

import argparse
import sys

from sim.scenario.spec import check_scenario

HELP = "check scenario files (schema, strict decoding, apiserver validation and allocation)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario YAML file(s)")


def run(args: argparse.Namespace) -> int:
    failed = False
    for path in args.scenarios:
        result = check_scenario(path)
        for w in result.warnings:
            print(f"warning: {w}", file=sys.stderr)
        for e in result.errors:
            print(e)
        if result.errors:
            failed = True
            n = len(result.errors)
            print(f"{path}: {n} error{'s' if n != 1 else ''}", file=sys.stderr)
        else:
            assert result.scenario is not None
            print(f"{path}: valid ({len(result.scenario.manifests)} objects)")
    return 1 if failed else 0
