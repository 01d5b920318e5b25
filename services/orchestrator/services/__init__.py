"""Business logic of orchestrator."""
