"""sim.api (see ARCHITECTURE.md)."""
