"""The comparison rules between a kernel capture (:mod:`tests.kernel.probing`) and the engine
(:mod:`tests.kernel.engine_side`), shared by the live kernel tests and the replay tests.

Outcomes
    Every outcome the kernel showed must be one the engine can produce (its support over
    ``draws`` independent connections); when the engine is deterministic for a probe (one
    outcome), the kernel must have shown exactly that one.
Trails
    For each traced kernel connection, an engine run with the same outcome and endpoint must
    hit exactly the same nat rules (only a connection's first packet traverses nat, so the
    kernel's counter diff is exact there), filter rules the kernel also counted (the kernel's
    filter counters include the later packets of the connection), and leave the same conntrack
    entry (``conntrack_mismatch``).
"""

from __future__ import annotations

from tests.kernel.engine_side import EngineCluster, conntrack_mismatch
from tests.kernel.probing import Probe

def outcome_problems(ec: EngineCluster, record: dict, draws: int = 100, seed: int = 1) -> list[str]:
    """Disagreements between the kernel's outcomes for one probe and the engine's."""
    probe = Probe(**record["probe"])
    engine = ec.distribution(probe, draws, seed)
    kernel = set(record["outcomes"])
    problems = []
    extra = sorted(kernel - set(engine))
    if extra:
        problems.append(f"{probe.label}: kernel showed {extra}, engine can only give "
                        f"{dict(sorted(engine.items()))}")
    if len(engine) == 1 and kernel != set(engine):
        problems.append(f"{probe.label}: engine always gives {next(iter(engine))}, kernel "
                        f"showed {record['outcomes']}")
    return problems


def trail_problems(ec: EngineCluster, record: dict, seed: int = 2) -> list[str]:
    """Disagreements between the kernel's traced connections of one probe and the engine."""
    probe = Probe(**record["probe"])
    runs = ec.replay_trails(probe, record["trails"], seed)
    if runs is None:
        outcomes = [t["outcome"] for t in record["trails"]]
        return [f"{probe.label}: the engine never reproduced the traced outcomes {outcomes}"]
    problems = []
    for i, (trail, run) in enumerate(zip(record["trails"], runs)):
        where = f"{probe.label} (traced connection {i + 1}, {trail['outcome']})"
        nat = {tuple(r[:3]) for r in trail["rules"] if r[0] == "nat"}
        if nat != set(run.nat_trail):
            problems.append(f"{where}: nat rules only in kernel {sorted(nat - run.nat_trail)}, "
                            f"only in engine {sorted(run.nat_trail - nat)}")
        filt = {tuple(r[:3]) for r in trail["rules"] if r[0] == "filter"}
        if not run.filter_trail <= filt:
            problems.append(f"{where}: filter rules the kernel never counted "
                            f"{sorted(run.filter_trail - filt)}")
        for entry in trail["conntrack"]:
            problems += [f"{where}: conntrack {m}" for m in conntrack_mismatch(run, entry)]
    return problems
