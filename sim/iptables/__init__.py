"""Rule data and the iptables-save / iptables-restore text format.

Model
    ``Payload`` (restore text as data), parsed ``Rule``/``Match``/``Target`` and the applied
    ``Ruleset`` (:mod:`sim.iptables.ruleset`); reading restore/save text and applying it like
    ``iptables-restore`` (:mod:`sim.iptables.restore`); printing a ruleset exactly as
    ``iptables-save`` does (:mod:`sim.iptables.save`); the registry of supported match modules
    and targets with their options (:mod:`sim.iptables.extensions`).

    Typical use::

        payload = parse_restore(text, source="node1.rules")   # or a compiler's Payload
        ruleset = apply_payload(payload, current=None, noflush=False)
        print(render_save(ruleset))                            # what iptables-save prints
        canonicalise(text_a) == canonicalise(text_b)           # compare rule texts

Scope and limitations
    IPv4 ``iptables`` only (no ip6tables). Matches: tcp, udp, sctp, icmp, multiport, comment,
    addrtype, mark, conntrack, state, statistic, recent, nfacct, limit, iprange, connmark,
    set (ipsets) and ipvs (:mod:`sim.iptables.setmatch`).
    Targets: ACCEPT, DROP, RETURN, user chains (jump and goto), REJECT, MARK, DNAT, SNAT,
    MASQUERADE, REDIRECT, LOG, CONNMARK, NOTRACK and ``CT --notrack``. Anything else (``owner``,
    ``string``...) is refused with an error naming the line (never
    silently ignored). Port numbers
    must be numeric (service names depend on the host's /etc/services). The save form is that
    of iptables 1.8.9 with the nf_tables backend (the default ``iptables`` on current
    distributions); ``iptables-legacy-save`` lists tables in another order (and every loaded
    table); :func:`canonicalise` gives both backends' output one form (kernel-checked).
    Rule index commands (``-I CHAIN n``, ``-D CHAIN n``) count the rules as they are at that
    line (legacy semantics; iptables-nft-restore counts only committed rules).
Validation
    ``tests/iptables/test_kernel_save.py`` restores a corpus (kube-proxy style rules and
    hand-written rules covering every supported option) into a fresh network namespace and
    asserts ``render_save(apply_payload(parse_restore(text)))`` equals the real
    ``iptables-save`` output; the captured outputs are fixtures replayed everywhere. Error
    cases (unknown chain, name too long, deleting a referenced chain...) are checked to be
    refused by both the kernel and :func:`apply_payload`; restore modes and commands
    (``--noflush``, counters, ``-I/-D/-X/-F/-P``, empty blocks) by comparing final states.
"""

from sim.iptables.restore import (
    RestoreError,
    SourcedPayload,
    apply_payload,
    canonicalise,
    parse_restore,
    parse_restore_lines,
    parse_rule,
    tokenize,
)
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
from sim.iptables.save import render_rule, render_save, rule_tokens, strip_save_noise

__all__ = [
    "BUILTIN_CHAINS", "MAX_CHAIN_NAME", "Chain", "ChainDecl", "Match", "Option", "Payload",
    "RestoreError", "Rule", "Ruleset", "SourcedPayload", "Table", "TablePayload", "Target",
    "apply_payload", "canonicalise", "parse_restore", "parse_restore_lines", "parse_rule", "render_rule",
    "render_save", "rule_tokens", "strip_save_noise", "tokenize",
]
