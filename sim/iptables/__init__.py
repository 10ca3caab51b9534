"""Rule data and the iptables-save / iptables-restore text format.

Model
    ``Payload`` (restore text as data), parsed ``Rule``/``Match``/``Target`` and the applied
    ``Ruleset``; see :mod:`sim.iptables.ruleset`.
"""

from sim.iptables.ruleset import (
    BUILTIN_CHAINS,
    MAX_CHAIN_NAME,
    Chain,
    ChainDecl,
    Match,
    Option,
    Payload,
    Rule,
    Ruleset,
    Table,
    TablePayload,
    Target,
)

__all__ = [
    "BUILTIN_CHAINS", "MAX_CHAIN_NAME", "Chain", "ChainDecl", "Match", "Option", "Payload",
    "Rule", "Ruleset", "Table", "TablePayload", "Target",
]
