"""sim.dns (see ARCHITECTURE.md)."""
