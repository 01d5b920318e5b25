"""SQL of the read side. Every query is read-only; filters are added only when given, so each
filter combination gets a plan that can use its index (lower(industry), matches(score DESC))."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

_MATCH_COLUMNS = """
    m.match_id, m.job_id, j.industry, m.score, m.ts, m.best_img_id, m.best_frame_id, m.evidence_path,
    m.score_pair, m.consistency, m.coverage, m.segments, m.created_at,
    p.product_id, p.title AS product_title, p.brand, p.url AS product_url, p.src,
    v.video_id, v.title AS video_title, v.url AS video_url, v.platform, v.duration_s"""
_MATCH_FROM = """
    FROM matches m
    JOIN jobs j ON j.job_id = m.job_id
    JOIN products p ON p.product_id = m.product_id
    JOIN videos v ON v.video_id = m.video_id"""


@dataclass(frozen=True)
class MatchFilter:
    industry: str | None = None
    job_id: str | None = None
    min_score: float | None = None
    product_id: str | None = None
    video_id: str | None = None

    def where(self, params: list) -> str:
        clauses = []
        if self.industry is not None:
            params.append(self.industry)
            clauses.append(f"lower(j.industry) = lower(${len(params)})")
        if self.job_id is not None:
            params.append(self.job_id)
            clauses.append(f"m.job_id = ${len(params)}")
        if self.min_score is not None:
            params.append(self.min_score)
            clauses.append(f"m.score >= ${len(params)}")
        for column, value in (("m.product_id", self.product_id), ("m.video_id", self.video_id)):
            if value is not None:
                params.append(value)
                clauses.append(f"{column} = ${len(params)}")
        return ("WHERE " + " AND ".join(clauses)) if clauses else ""


class Repository:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def matches(self, flt: MatchFilter, limit: int, offset: int) -> tuple[list[asyncpg.Record], int]:
        params: list = []
        where = flt.where(params)
        count_sql = f"SELECT count(*) {_MATCH_FROM} {where}"
        page_sql = (f"SELECT {_MATCH_COLUMNS} {_MATCH_FROM} {where} "
                    f"ORDER BY m.score DESC, m.match_id LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}")
        # one snapshot for the page and its total
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            rows = await conn.fetch(page_sql, *params, limit, offset)
            total = await conn.fetchval(count_sql, *params)
        return rows, total

    async def match(self, match_id: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow(f"SELECT {_MATCH_COLUMNS} {_MATCH_FROM} WHERE m.match_id = $1", match_id)

    async def evidence_path(self, match_id: str) -> tuple[bool, str | None]:
        """(the match exists, its evidence_path)."""
        row = await self.pool.fetchrow("SELECT evidence_path FROM matches WHERE match_id = $1", match_id)
        return (row is not None, row["evidence_path"] if row else None)

    async def image_path(self, kind: str, asset_id: str) -> str | None:
        """local_path of a product image (kind "product") or a keyframe (kind "frame")."""
        table, key = {"product": ("product_images", "img_id"), "frame": ("video_frames", "frame_id")}[kind]
        return await self.pool.fetchval(f"SELECT local_path FROM {table} WHERE {key} = $1", asset_id)

    async def job_exists(self, job_id: str) -> bool:
        return await self.pool.fetchval("SELECT EXISTS (SELECT 1 FROM jobs WHERE job_id = $1)", job_id)

    async def job_ended(self, job_id: str) -> bool:
        """Has the job completed or failed (its matches can no longer change)?"""
        return bool(await self.pool.fetchval(
            "SELECT phase IN ('completed', 'failed') FROM jobs WHERE job_id = $1", job_id))

    async def product(self, product_id: str) -> tuple[asyncpg.Record | None, list[asyncpg.Record]]:
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            product = await conn.fetchrow(
                "SELECT product_id, src, asin_or_itemid, title, brand, url, price, currency, created_at "
                "FROM products WHERE product_id = $1", product_id)
            if product is None:
                return None, []
            images = await conn.fetch(
                "SELECT img_id, local_path, masked_local_path, emb_rgb IS NOT NULL AS has_embedding, created_at "
                "FROM product_images WHERE product_id = $1 ORDER BY created_at, img_id", product_id)
        return product, images

    async def video(self, video_id: str) -> tuple[asyncpg.Record | None, list[asyncpg.Record]]:
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            video = await conn.fetchrow(
                "SELECT video_id, platform, url, title, duration_s, published_at FROM videos WHERE video_id = $1",
                video_id)
            if video is None:
                return None, []
            frames = await conn.fetch(
                "SELECT frame_id, ts, shot_start, shot_end, local_path, masked_local_path, "
                "emb_rgb IS NOT NULL AS has_embedding FROM video_frames WHERE video_id = $1 ORDER BY ts, frame_id",
                video_id)
        return video, frames
