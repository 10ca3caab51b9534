"""sim.world (see ARCHITECTURE.md)."""
