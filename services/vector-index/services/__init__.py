"""Business logic of vector-index."""
