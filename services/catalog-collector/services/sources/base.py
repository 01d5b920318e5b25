"""The product source interface: search an industry, then fetch each image's bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from common_py.safe_http import FetchError, SafeHttp


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


async def fetch_url(http: SafeHttp, url: str) -> bytes:
    """`fetch_image` of the online sources: one image URL through SafeHttp."""
    try:
        return (await http.fetch(url)).content
    except FetchError as exc:
        raise SourceError(str(exc)) from exc


def to_float(value) -> float | None:
    """A price from an API answer (number or string); None when absent or not a number."""
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
