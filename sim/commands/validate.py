"""``kube-netsim validate SCENARIO...``: check scenarios as the apiserver would.

Prints every error as ``file:line: Kind namespace/name: field.path: Type: value: detail``
(warnings, such as skipped unknown kinds, on stderr) and exits 1 if any scenario has an error.
"""

from __future__ import annotations

import argparse
import sys

from sim.model.errors import SimError, ValidationError
from sim.scenario.spec import load_scenario

HELP = "check scenario files (schema, strict decoding, apiserver validation and allocation)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario YAML file(s)")


def run(args: argparse.Namespace) -> int:
    failed = False
    for path in args.scenarios:
        try:
            scenario = load_scenario(path)
        except ValidationError as exc:
            for e in exc.errors:
                print(e)
            failed = True
            continue
        except SimError as exc:
            print(exc)
            failed = True
            continue
        errors, warnings = scenario.check()
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        for e in errors:
            print(e)
        if errors:
            failed = True
            n = len(errors)
            print(f"{path}: {n} error{'s' if n != 1 else ''}", file=sys.stderr)
        else:
            print(f"{path}: valid ({len(scenario.manifests)} objects)")
    return 1 if failed else 0
