"""Business logic of media-ingestion."""
