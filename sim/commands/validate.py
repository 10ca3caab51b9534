"""``kube-netsim validate SCENARIO...``: check scenarios as the apiserver would.

Prints every error on stderr as ``error: file:line: Kind namespace/name: field.path: Type:
value: detail``, one line per problem (warnings, such as skipped kinds that are not modelled,
a Service whose selector matches no pod or a LoadBalancer left pending, as ``warning:``
lines), ``FILE: valid (N objects)`` on stdout for a valid scenario, and exits 1 if any
scenario has an error. On large inputs it prints its progress on stderr once a second. Schema and strict-decoding errors do not hide the apiserver's
errors for the objects that decoded: everything found is printed at once. A scenario whose
objects are valid also has its run sections checked as ``run`` checks them.
"""

from __future__ import annotations

import argparse
import sys
import time

from pathlib import Path

from sim.api.controllers import services_without_endpoints
from sim.model.errors import SimError, ValidationError
from sim.scenario.sections import check_runnable, parse_plan
from sim.scenario.spec import CheckResult, check_scenario, read_documents

HELP = "check scenario files (schema, strict decoding, apiserver validation and allocation)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario YAML file(s)")
    parser.add_argument("--no-progress", action="store_true",
                        help="do not print progress on large inputs")


def progress_printer(path: str, stream=None):
    """Progress on stderr while a large scenario's objects are applied (only once a second of
    wall time has passed, so small inputs print nothing)."""
    start = time.perf_counter()
    last = [start]

    def show(text: str) -> None:
        t = time.perf_counter()
        if t - last[0] >= 1.0:
            last[0] = t
            print(f"  {path}: {text}, {t - start:.1f} s elapsed", file=stream or sys.stderr,
                  flush=True)
    return show


def run(args: argparse.Namespace) -> int:
    failed = False
    for path in args.scenarios:
        result = check_scenario(path, progress=None if args.no_progress else progress_printer(path))
        warnings = list(result.warnings)
        if not result.errors and result.scenario is not None:
            state = result.scenario.state()
            result.errors.extend(_run_section_errors(result, state))
            warnings.extend(services_without_endpoints(state))
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        for e in result.errors:
            for line in str(e).splitlines():
                print(f"error: {line}", file=sys.stderr)
        if result.errors:
            failed = True
            n = len(result.errors)
            print(f"{path}: {n} error{'s' if n != 1 else ''}", file=sys.stderr)
        else:
            assert result.scenario is not None
            print(f"{path}: valid ({len(result.scenario.manifests)} objects)")
    return 1 if failed else 0


def _run_section_errors(result: CheckResult, state) -> list:
    """What ``run`` would refuse: :func:`sim.scenario.sections.check_runnable` (proxy mode,
    seed, flows to Services or ports that never exist) and the checks of
    ``network``/``traffic``/``events``/``expect`` (:func:`~sim.scenario.sections.parse_plan`,
    which stops at the first problem)."""
    scenario = result.scenario
    assert scenario is not None
    errors: list = list(check_runnable(scenario, state))
    if not (scenario.network or scenario.traffic or scenario.events or scenario.expect):
        return errors
    root = read_documents(Path(scenario.path))[0][1]
    try:
        parse_plan(scenario.network, scenario.traffic, scenario.events, scenario.expect,
                   tuple(n.name for n in state.nodes), str(scenario.path), root)
    except ValidationError as exc:
        errors.extend(exc.errors)
    except SimError as exc:
        errors.append(str(exc))
    return errors
