"""Business logic of matcher."""
