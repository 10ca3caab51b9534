"""``kube-netsim rules`` in nftables mode: the transaction kube-proxy sends, or its counts.

``--format nft`` (the default in this mode) prints the ``nft -f`` transaction of a first,
full sync exactly as kube-proxy's nftables proxier sends it (knftables text); ``--stats``
prints the chains, rules, sets, maps and elements the table holds after it.
"""

from __future__ import annotations

from sim.kubeproxy.nftables import compile_nft, transaction_stats
from sim.model.errors import SimError

FORMATS = ("nft",)


def format_stats(tx) -> str:
    """The ``--stats`` table of one transaction."""
    s = transaction_stats(tx)
    kinds = ", ".join(f"{k} {n}" for k, n in s.chains_by_prefix) or "-"
    return (f"{'table':<16} {'chains':>7} {'base':>5} {'rules':>7} {'sets':>5} {'maps':>5} "
            f"{'elements':>9}  per-service chains\n"
            f"{'ip kube-proxy':<16} {s.chains:>7} {s.base_chains:>5} {s.rules:>7} {s.sets:>5} "
            f"{s.maps:>5} {s.elements:>9}  {kinds}\n")


def run(state, node: str, args) -> str:
    """The text ``rules`` prints for ``node`` in nftables mode."""
    fmt = args.format or "nft"
    if fmt not in FORMATS:
        raise SimError(f'--format: Unsupported value: "{fmt}": supported values in nftables '
                       'mode: "nft"')
    if args.nfacct:
        raise SimError("--nfacct: Forbidden: nfacct counters are an iptables-mode option")
    tx = compile_nft(state, node)
    return format_stats(tx) if args.stats else tx.render()
