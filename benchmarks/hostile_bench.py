"""What the hostile-input checks cost and how fast a hostile file is refused.

* ``read_documents`` of the 10,000-Service manifest file of ``load_bench.py``: CPU time of
  composing it and of the alias/number check (``_check_document``) measured in the same run;
* CPU time to refuse the nine-level alias bomb of ``tests/hostile/corpus``.

Median of ``--repeats`` (default 5). Prints the machine. A measurement, never pass/fail.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import yaml  # noqa: E402

from load_bench import write_scenario  # noqa: E402
from sim.model.errors import SimError  # noqa: E402
from sim.scenario import spec  # noqa: E402


def _cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        write_scenario(Path(tmp), 10_000)
        text = (Path(tmp) / "services.yaml").read_bytes()
    compose, check = [], []
    for _ in range(args.repeats):
        nodes: list = []
        compose.append(_cpu(lambda: nodes.extend(yaml.compose_all(text, Loader=spec._Loader))))
        check.append(_cpu(lambda: [spec._check_document(n, "x") for n in nodes]))
    bomb = ROOT / "tests" / "hostile" / "corpus" / "alias-bomb-9-levels.yaml"

    def refuse() -> None:
        try:
            spec.read_documents(bomb)
        except SimError:
            return
        raise AssertionError("the bomb was not refused")
    refusals = [_cpu(refuse) for _ in range(args.repeats)]
    med = statistics.median
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    print(f"10,000 Services ({len(text) / 2**20:.1f} MiB): compose {med(compose):.2f} s CPU, "
          f"alias/number check {med(check):.3f} s ({med(check) / med(compose):.1%} of compose)")
    print(f"nine-level alias bomb refused in {med(refusals) * 1000:.1f} ms CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
