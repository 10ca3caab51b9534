"""nftables rulesets as data and text (the sibling of :mod:`sim.iptables`).

Model
    :class:`~sim.nftables.transaction.Transaction` is what kube-proxy's nftables proxier hands
    ``nft -f`` on one sync (sigs.k8s.io/knftables ``Transaction``): an ordered list of commands
    (``add table ...``, ``add chain ...``, ``add rule ...``, ``add element ...``,
    ``flush chain ...``, ``delete chain ...``) whose ``render()`` is the exact text.
Scope and limitations
    The transaction type only; parsing ``nft -f`` / ``nft list ruleset`` text into tables,
    chains, sets and maps is added beside it.
Validation
    See the modules that use it (the nftables compiler's kernel round trip).
"""

from sim.nftables.transaction import Transaction

__all__ = ["Transaction"]
