"""The local source (SPEC §8): a folder with catalog.json; stands in for Amazon and eBay wherever
no credentials are configured, and serves demos, tests and benchmarks."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel, Field

from common_py.local_dataset import LocalDataset, selects
from services.sources.base import ProductRecord, SourceError


class _Product(BaseModel):
    product_id: str = Field(..., min_length=1)
    src: str = "local"
    title: str | None = None
    brand: str | None = None
    url: str | None = None
    price: float | None = None
    currency: str | None = None
    keywords: list[str] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list)


class _Catalog(BaseModel):
    products: list[_Product]


class LocalProductSource:
    name = "local"

    def __init__(self, root: Path):
        self.dataset = LocalDataset(root, error=SourceError)

    async def search_capped(self, industry: str, caps: dict[str, int]) -> list[ProductRecord]:
        """Selected products, capped per `src` (caps: {"amazon": top_amz, "ebay": top_ebay,
        "local": top_amz + top_ebay}); catalog order is the ranking."""
        catalog = await asyncio.to_thread(self.dataset.load, "catalog.json", _Catalog)
        taken: dict[str, int] = {}
        out = []
        for p in catalog.products:
            if not selects(industry, p.title, p.keywords):
                continue
            if taken.get(p.src, 0) >= caps.get(p.src, caps.get("local", 0)):
                continue
            taken[p.src] = taken.get(p.src, 0) + 1
            out.append(ProductRecord(src=p.src, item_id=p.product_id, title=p.title, brand=p.brand, url=p.url,
                                     price=p.price, currency=p.currency,
                                     images=[str(self.dataset.inside(i, "catalog image")) for i in p.images]))
        return out

    async def search(self, industry: str, limit: int) -> list[ProductRecord]:
        return await self.search_capped(industry, {"local": limit, "amazon": limit, "ebay": limit})

    async def fetch_image(self, ref: str) -> bytes:
        return await asyncio.to_thread(Path(ref).read_bytes)
