"""Load time of a scenario whose manifest file holds N Services (issue 2's 10,000-Service case).

Writes a scenario with N Services (one in ten NodePort, two named ports each) to a temporary
directory, then times ``load_scenario(path).state()`` - YAML parsing, schema check, apiserver
defaulting, validation, ClusterIP/NodePort allocation and the snapshot - and prints the median,
minimum and maximum of the repeats, in process CPU time and in wall time.

Usage::

    .venv/bin/python benchmarks/load_bench.py [--sizes 1000,10000] [--repeats 5]

The correctness of the same load (counts, unique allocations) is tested, without any time
limit, in ``tests/scenario/test_spec_perf.py``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.scenario.spec import load_scenario  # noqa: E402


def write_scenario(directory: Path, n: int) -> Path:
    """A scenario naming one manifest file with ``n`` Services; its path."""
    docs = []
    for i in range(n):
        kind = "NodePort" if i % 10 == 0 else "ClusterIP"
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: default\n"
            f"  labels:\n    app: app-{i % 100}\nspec:\n  type: {kind}\n  selector:\n    app: app-{i % 100}\n"
            "  ports:\n  - name: http\n    protocol: TCP\n    port: 80\n    targetPort: 8080\n"
            "  - name: https\n    protocol: TCP\n    port: 443\n    targetPort: 8443\n")
    (directory / "services.yaml").write_text("---\n".join(docs))
    path = directory / "scenario.yaml"
    path.write_text("apiVersion: kube-netsim/v1\nkind: Scenario\nmetadata: {name: perf}\n"
                    "spec:\n  seed: 3\n  manifests: [services.yaml]\n")
    return path


def measure(path: Path, repeats: int) -> tuple[list[float], list[float], int]:
    """CPU and wall seconds of each repeat, and the number of Services loaded."""
    cpu, wall, count = [], [], 0
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        state = load_scenario(path).state()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        count = len(state.services)
    return cpu, wall, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated Service counts")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per size (default 5)")
    args = parser.parse_args(argv)
    print(f"# python {platform.python_version()} on {platform.machine()}, "
          f"{args.repeats} repeats; seconds: median (min-max)")
    print(f"{'services':>9} {'cpu':>22} {'wall':>22}")
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="kns-load-") as tmp:
            cpu, wall, count = measure(write_scenario(Path(tmp), n), args.repeats)
        assert count == n, (count, n)

        def fmt(xs: list[float]) -> str:
            return f"{statistics.median(xs):.3f} ({min(xs):.3f}-{max(xs):.3f})"

        print(f"{n:>9} {fmt(cpu):>22} {fmt(wall):>22}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
