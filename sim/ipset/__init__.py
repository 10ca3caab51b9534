"""ipsets as data and text (``ipset save`` / ``ipset restore``), beside :mod:`sim.iptables`.

Model
    Named sets of the types kube-proxy and common CNIs use, with their members.
Scope and limitations
    Package placeholder: the set types, the text format and membership tests are added here.
Validation
    See the modules that use it.
"""
