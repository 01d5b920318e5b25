"""The product source interface: search an industry, then fetch each image's bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class ProductRecord:
    src: str                    # "amazon" | "ebay" | "local": the `products.src` column
    item_id: str                # ASIN, eBay item id or the dataset's id: `products.asin_or_itemid`
    title: str | None = None
    brand: str | None = None
    url: str | None = None
    price: float | None = None
    currency: str | None = None
    images: list[str] = field(default_factory=list)  # URLs or local file paths, gallery order
    # a search summary the source can complete with `details()` (more images, brand); the
    # collector asks for that only for products it has not stored before
    needs_details: bool = False


class SourceError(Exception):
    """From `search`: the source as a whole cannot answer (bad credentials, unreadable dataset,
    outage). From `fetch_image` or `details`: that one item cannot be had."""


class ProductSource(Protocol):
    name: str

    async def search(self, industry: str, limit: int) -> list[ProductRecord]:
        """At most `limit` products for the industry, best first."""

    async def fetch_image(self, ref: str) -> bytes:
        """The bytes of one image reference from ProductRecord.images."""

    # optional: `async def details(self, rec: ProductRecord) -> ProductRecord` completes a record
    # returned with needs_details=True (see ebay.py)
