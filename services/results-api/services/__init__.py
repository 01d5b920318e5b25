"""Business logic of results-api."""
