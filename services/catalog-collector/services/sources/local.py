"""The local source (SPEC §8): a folder with catalog.json; stands in for Amazon and eBay wherever
no credentials are configured, and serves demos, tests and benchmarks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

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


def selects(industry: str, title: str | None, keywords: list[str]) -> bool:
    """SPEC §8: entries whose keywords or title contain the industry (case-insensitive); `*` is all."""
    needle = industry.strip().lower()
    if needle == "*":
        return True
    return needle in (title or "").lower() or any(needle in k.lower() for k in keywords)


class LocalProductSource:
    name = "local"

    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def _load(self) -> _Catalog:
        path = self.root / "catalog.json"
        try:
            return _Catalog.model_validate(json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise SourceError(f"local dataset has no catalog.json: {path}") from exc
        except (json.JSONDecodeError, ValidationError) as exc:
            raise SourceError(f"{path} is not a valid catalog: {exc}") from exc

    async def search_capped(self, industry: str, caps: dict[str, int]) -> list[ProductRecord]:
        """Selected products, capped per `src` (caps: {"amazon": top_amz, "ebay": top_ebay,
        "local": top_amz + top_ebay}); catalog order is the ranking."""
        catalog = await asyncio.to_thread(self._load)
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
                                     images=[str(self._inside(i)) for i in p.images]))
        return out

    async def search(self, industry: str, limit: int) -> list[ProductRecord]:
        return await self.search_capped(industry, {"local": limit, "amazon": limit, "ebay": limit})

    def _inside(self, rel: str) -> Path:
        path = (self.root / rel).resolve()
        if self.root not in path.parents:
            raise SourceError(f"catalog image {rel!r} is outside the dataset folder")
        return path

    async def fetch_image(self, ref: str) -> bytes:
        return await asyncio.to_thread(Path(ref).read_bytes)
