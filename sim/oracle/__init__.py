"""sim.oracle (see ARCHITECTURE.md)."""
