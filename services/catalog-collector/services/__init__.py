"""Business logic of catalog-collector."""
