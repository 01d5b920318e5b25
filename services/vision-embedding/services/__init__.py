"""Business logic of vision-embedding."""
