"""Business logic of evidence-builder."""
