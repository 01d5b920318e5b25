"""Collect the top products of an industry: rows in Postgres, normalised images under DATA_ROOT,
one `products.image.ready` per image, then the job's image count and its completion.

Each product is stored in a transaction of its own (progress is visible while a long collection
runs); its events carry deterministic event_ids, so a redelivered request re-emits the same ids
and consumers drop the repeats. A product or image that fails is logged and skipped: one bad item
never fails the job. A product collected by an earlier job is reused as it is: its source is not
asked for its details or images again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from common_py.errors import ErrorCode, JobFailed, StorageUnwritable, asset_error_code
from common_py.storage import Storage, derive_id, raise_if_unwritable
from common_py.uow import UnitOfWork, stable_event_id
from services.images import BadImage, normalize, phash_distance
from services.sources.base import ProductRecord, ProductSource, SourceError

log = logging.getLogger("catalog-collector")


def product_id_for(rec: ProductRecord) -> str:
    """A file-system-safe, stable product id: the source's own id when it already is one."""
    prefix = {"amazon": "amz-", "ebay": "ebay-"}.get(rec.src, "")
    return derive_id(rec.item_id, prefix, "p-", rec.src)


def image_id_for(product_id: str, ref: str) -> str:
    return "img-" + hashlib.sha1(f"{product_id}|{ref}".encode()).hexdigest()[:20]


@dataclass
class SourcePlan:
    source: ProductSource
    caps: dict[str, int]  # per `src` label


class CatalogCollector:
    def __init__(self, uow: UnitOfWork, storage: Storage, plan_sources, *, max_side: int, per_product: int,
                 dup_distance: int):
        self.uow = uow
        self.storage = storage
        self.plan_sources = plan_sources  # (top_amz, top_ebay) -> list[SourcePlan]
        self.max_side = max_side
        self.per_product = per_product
        self.dup_distance = dup_distance

    async def gather(self, industry: str, top_amz: int, top_ebay: int) -> list[tuple[ProductSource, ProductRecord]]:
        plans = self.plan_sources(top_amz, top_ebay)
        if not plans:
            raise JobFailed("no product source is configured: set LOCAL_DATASET_DIR, or eBay/Amazon credentials")
        asked = [plan for plan in plans if sum(plan.caps.values()) > 0]  # a cap of 0: not asked at all
        found, errors = [], []
        for plan in asked:
            try:
                if hasattr(plan.source, "search_capped"):
                    records = await plan.source.search_capped(industry, plan.caps)
                else:
                    records = await plan.source.search(industry, sum(plan.caps.values()))
            except SourceError as exc:
                errors.append(f"{plan.source.name}: {exc}")
                log.error("product source %s failed: %s", plan.source.name, exc,
                          extra={"error_code": ErrorCode.DEPENDENCY_UNAVAILABLE})
                continue
            found += [(plan.source, r) for r in records]
        if errors and len(errors) == len(asked):
            raise JobFailed("every product source failed: " + "; ".join(errors))
        return found

    async def _stored_images(self, rec: ProductRecord) -> list:
        async with self.uow.pool.acquire() as conn:
            return await conn.fetch(
                "SELECT pi.img_id, pi.local_path, pi.phash, pi.source_url FROM product_images pi "
                "JOIN products p USING (product_id) WHERE p.src = $1 AND p.asin_or_itemid = $2", rec.src, rec.item_id)

    async def store_product(self, job_id: str, source: ProductSource, rec: ProductRecord) -> int:
        """Store one product and its images; returns how many images it contributes."""
        product_id = product_id_for(rec)
        stored = await self._stored_images(rec)
        if stored and all(self.storage.exists(r["local_path"]) for r in stored):
            # collected by an earlier job: reused as it is, nothing is asked of the source again
            # (no details call, no image download, not even for images that were dropped then)
            gallery = {image_id_for(product_id, ref): i for i, ref in enumerate(rec.images)}
            stored = sorted(stored, key=lambda r: (gallery.get(r["img_id"], len(gallery)), r["img_id"]))
            kept = [(r["img_id"], r["local_path"], r["phash"], r["source_url"] or "") for r in stored]
        else:
            if rec.needs_details and hasattr(source, "details"):
                rec = await source.details(rec)
            kept = await self._fetch_images(source, rec, product_id, {r["img_id"]: r for r in stored})
        await self._save(job_id, rec, product_id, kept)
        return len(kept)

    async def _fetch_images(self, source: ProductSource, rec: ProductRecord, product_id: str,
                            existing: dict) -> list[tuple[str, str, str | None, str]]:
        kept: list[tuple[str, str, str | None, str]] = []  # (img_id, rel path, phash, ref)
        for ref in rec.images:
            if len(kept) >= self.per_product:
                break
            img_id = image_id_for(product_id, ref)
            old = existing.get(img_id)
            if old is not None and self.storage.exists(old["local_path"]):
                kept.append((img_id, old["local_path"], old["phash"], ref))  # reuse: no fetch
                continue
            try:
                data = await source.fetch_image(ref)
                img = await asyncio.to_thread(normalize, data, self.max_side)
            except (BadImage, SourceError, OSError) as exc:
                raise_if_unwritable(exc, f"image {ref} of product {product_id}")
                log.error("skipping image %s of product %s: %s", ref, product_id, exc,
                          extra={"error_code": asset_error_code(exc)})
                continue
            if any(h and phash_distance(h, img.phash) <= self.dup_distance for _, _, h, _ in kept):
                log.info("skipping near-duplicate image %s of product %s", ref, product_id)
                continue
            rel = self.storage.product_image(product_id, img_id)
            await asyncio.to_thread(self.storage.write_bytes, rel, img.jpeg)
            kept.append((img_id, rel, img.phash, ref))
        return kept

    async def _save(self, job_id: str, rec: ProductRecord, product_id: str,
                    kept: list[tuple[str, str, str | None, str]]) -> None:
        async with self.uow.begin() as tx:
            product_id = await tx.conn.fetchval(
                """INSERT INTO products (product_id, src, asin_or_itemid, title, brand, url, price, currency)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                   ON CONFLICT (src, asin_or_itemid) DO UPDATE SET
                       -- a search summary may lack what an earlier job's details call found
                       title = COALESCE(EXCLUDED.title, products.title), brand = COALESCE(EXCLUDED.brand, products.brand),
                       url = COALESCE(EXCLUDED.url, products.url), price = COALESCE(EXCLUDED.price, products.price),
                       currency = COALESCE(EXCLUDED.currency, products.currency)
                   RETURNING product_id""",
                product_id, rec.src, rec.item_id, rec.title, rec.brand, rec.url, rec.price, rec.currency)
            await tx.conn.execute("INSERT INTO job_products (job_id, product_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                  job_id, product_id)
            await tx.conn.executemany(
                """INSERT INTO product_images (img_id, product_id, local_path, phash, source_url)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (img_id) DO UPDATE SET local_path = EXCLUDED.local_path""",
                [(img_id, product_id, rel, phash, ref if ref.startswith(("http://", "https://")) else None)
                 for img_id, rel, phash, ref in kept])
            await tx.emit_many("products.image.ready", [{
                "event_id": stable_event_id(job_id, "products.image.ready", img_id),
                "job_id": job_id, "product_id": product_id, "image_id": img_id, "local_path": rel}
                for img_id, rel, _, _ in kept])

    async def collect(self, job_id: str, industry: str, top_amz: int, top_ebay: int) -> int:
        total = 0
        for source, rec in await self.gather(industry, top_amz, top_ebay):
            try:
                total += await self.store_product(job_id, source, rec)
            except StorageUnwritable:
                raise  # not this product's fault: no product can be stored
            except Exception as exc:  # noqa: BLE001 - one product never fails the job
                log.error("skipping product %s/%s: %s: %s", rec.src, rec.item_id, type(exc).__name__, exc,
                          extra={"error_code": ErrorCode.BAD_INPUT})
        log.info("collected %d images for %r", total, industry)
        return total
