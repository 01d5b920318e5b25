"""Business logic of product-segmentor."""
