"""ipsets as data and text (``ipset save`` / ``ipset restore``), beside :mod:`sim.iptables`.

Model
    :class:`IPSet`: a named set of one of the types kube-proxy and the common CNIs create
    (``hash:ip``, ``hash:net``, ``hash:ip,port``, ``hash:net,port``, ``hash:ip,port,ip``,
    ``hash:ip,port,net``, ``bitmap:port``) with its create options (family, hashsize,
    maxelem, range, comment/timeout/counters flags) and its members as the text ipset prints.
    :class:`SetIndex` tests membership the way the kernel's set modules do: a hash lookup of
    the packet's (address, protocol, port ...) key; net dimensions tried per stored prefix
    length, most specific first; ``bitmap:port`` matching TCP and UDP packets only.
    :mod:`sim.ipset.text` reads ``ipset restore`` / ``ipset save`` text (errors name the line)
    and prints sets exactly as ``ipset save`` (ipset 7.17) does.
Scope and limitations
    IPv4 and IPv6 sets parse and print; membership is used by the IPv4 engine. Not modelled:
    ``list:set``, ``hash:ip,mark``, ``hash:mac`` and the other types, ``nomatch`` entries,
    icmp ``proto:type/code`` entries, timeouts (kept as text, never expiring) and counters.
    Hash sets list their members in the kernel's hash order, seeded by a random ``initval``:
    ours are in byte-wise string order and carry no initval; compare through
    :func:`canonicalise`.
Validation
    ``tests/ipset/test_kernel_ipset.py`` restores sets of every modelled type into a
    throwaway network namespace and checks ``ipset save`` reads back equal through
    :func:`canonicalise`, and that ``-m set`` matches what :class:`SetIndex` predicts.
"""

from sim.ipset.sets import (
    SET_TYPES,
    EntryError,
    IPSet,
    SetIndex,
    normalise_entry,
    parse_entry,
)
from sim.ipset.text import canonicalise, create_line, parse_restore, render_restore, render_save

__all__ = [
    "SET_TYPES", "EntryError", "IPSet", "SetIndex", "canonicalise", "create_line",
    "normalise_entry", "parse_entry", "parse_restore", "render_restore", "render_save",
]
