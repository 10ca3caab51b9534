"""Subcommands of ``kube-netsim``; one module each (see :mod:`sim.cli`)."""
