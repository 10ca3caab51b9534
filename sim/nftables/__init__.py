"""nftables rulesets as data and text (the sibling of :mod:`sim.iptables`).

Model
    :class:`~sim.nftables.transaction.Transaction` is what kube-proxy's nftables proxier hands
    ``nft -f`` on one sync (sigs.k8s.io/knftables ``Transaction``): an ordered list of commands
    whose ``render()`` is the exact text. :func:`apply_nft` applies such text (``add``,
    ``create``, ``insert``, ``replace``, ``flush``, ``delete``, ``destroy`` of tables, chains,
    rules, sets, maps and elements, and ``table ... { ... }`` blocks as ``nft list ruleset``
    prints them) to an :class:`NftRuleset`: tables (ip, ip6, inet) holding base chains (type,
    hook, priority by name or number, policy), regular chains, named sets and maps
    (concatenated keys, intervals, ``flags dynamic,timeout``, element timeouts and
    comments) and rules as statement lists (:mod:`sim.nftables.ruleset`).
    ``NftRuleset.render()`` prints what ``nft list ruleset`` prints.

    Typical use::

        rs = apply_nft(transaction)               # or text; atomic, on a copy
        rs = apply_nft(next_transaction, rs)      # the next sync, onto the current state
        print(rs.render())                        # nft list ruleset
        canonicalise(text_a) == canonicalise(text_b)

Scope and limitations
    Expressions: ``ip``/``ip6`` ``saddr``/``daddr``/``protocol``/``nexthdr``, ``meta``
    ``l4proto``/``mark``/``iifname``/``oifname``/``nfproto``, ``th``/``tcp``/``udp``/``sctp``
    ``sport``/``dport``, ``tcp flags``, ``icmp type``, ``fib saddr|daddr type``, ``ct``
    ``state``/``status``/``mark``/``direction``, ``numgen random|inc mod N [offset K]``,
    concatenations, ``& | ^`` (``and or xor``) on marks, comparisons, set membership (named
    and anonymous), ``vmap`` and ``map`` lookups; statements: verdicts, ``reject [with ...]``,
    ``dnat``/``snat to ADDR[:PORT]`` (or ``to KEY map ...``), ``masquerade``, ``redirect``
    (with ``random``/``fully-random``/``persistent``), ``meta|ct mark set``,
    ``update|add @set { KEY [timeout T] }``, ``counter``, ``log``, ``notrack``, ``comment``.
    Anything else is an error naming its line, never ignored. Not modelled: ``typeof`` set
    declarations, flowtables, named objects (counters, quotas, limits), ``inet`` NAT for IPv6,
    the arp/bridge/netdev families, ingress hooks, rule ``handle`` numbers as the kernel
    assigns them (ours count per table). Port and protocol numbers print as numbers and names
    as nft 1.0.6 prints them; element order in listings is ours (insertion order, or sorted in
    :func:`canonicalise`) where the kernel's is its hash order.
Validation
    ``tests/nftables``: upstream's ``TestOverallNFTablesRules`` expected text loads and lists
    exactly as the real ``nft list ruleset`` does after ``nft -f`` of the same text (the
    kernel's listing is a committed fixture; ``-m kernel`` re-checks it live); a corpus of
    hand-written rules covering every expression above is compared with the kernel the same
    way; the errors ``nft -f`` gives (unknown chain, set, type mismatch, duplicate element,
    forward chain reference, interval without ``flags interval``) are refused with the line
    named, and a refused text changes nothing.
"""

from sim.nftables.parse import NftError, apply_nft, canonicalise, looks_like_nft, parse_ruleset
from sim.nftables.ruleset import (
    Element,
    NftChain,
    NftRule,
    NftRuleset,
    NftSet,
    NftTable,
)
from sim.nftables.transaction import Transaction

__all__ = [
    "Element", "NftChain", "NftError", "NftRule", "NftRuleset", "NftSet", "NftTable",
    "Transaction", "apply_nft", "canonicalise", "looks_like_nft", "parse_ruleset",
]
