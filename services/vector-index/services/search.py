"""Nearest product images by cosine similarity (SPEC §6.1) over the pgvector HNSW indexes.

One search is one read-only transaction and one SQL statement:

1. per space (emb_rgb, emb_gray) a MATERIALIZED CTE asks the HNSW index for the top-k product
   images, with the job filter (and the query image itself, for image queries) applied *during*
   the scan: `hnsw.iterative_scan = relaxed_order` lets the index keep walking the graph until k
   rows pass the filter, instead of returning ef_search candidates and filtering them afterwards
   (which starves a job whose products are not among the catalog's nearest vectors);
2. the union of those candidates is rescored exactly (both cosines, from the stored vectors) and
   sorted by the requested similarity. relaxed_order returns rows only roughly by distance, so
   this exact re-sort is what makes the order right. For space=max the union is exact as well: an
   image in the true top-k by max(cos_rgb, cos_gray) is in the top-k of the space giving its max.

The planner may also choose an exact plan (a scan of the job's images and a sort) when that is
cheaper, e.g. on small tables or for a small job; both give the same answer.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Literal

import asyncpg
import numpy as np

from common_py.db import vector_dimension
from common_py.frame_regions import load_regions

Space = Literal["max", "rgb", "gray"]
COLUMNS = {"rgb": "emb_rgb", "gray": "emb_gray"}
MIN_PGVECTOR = (0, 8)  # hnsw.iterative_scan appeared in pgvector 0.8.0


class NotFound(LookupError):
    """An id the caller gave does not exist (HTTP 404)."""


class BadQuery(ValueError):
    """The request is well-formed JSON but cannot be searched (HTTP 422)."""


@dataclass(frozen=True)
class Hit:
    img_id: str
    product_id: str
    sim_rgb: float | None
    sim_gray: float | None
    similarity: float
    region: int | None = None  # the frame region whose vector brought it (None: the frame's own)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ScanSettings:
    ef_search: int = 100
    max_scan_tuples: int = 20000


async def configure_scan(conn: asyncpg.Connection, scan: ScanSettings, k: int) -> None:
    """Transaction-local HNSW settings (set_config(..., true) == SET LOCAL, but parameterised)."""
    ef = min(1000, max(scan.ef_search, k))  # ef_search < k would cap the result at ef_search rows
    await conn.execute(
        "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
        "set_config('hnsw.ef_search', $1, true), set_config('hnsw.max_scan_tuples', $2, true)",
        str(ef), str(scan.max_scan_tuples))


def build_search_sql(queries: dict[str, np.ndarray], ranked_by: Space, k: int, job_id: str | None,
                     exclude_img_id: str | None) -> tuple[str, list]:
    """SQL and parameters of one search.

    queries: the query vector per space present ("rgb" and/or "gray"); the candidates come from
    the spaces that `ranked_by` names (both for max), the rescoring computes every space given.
    """
    params: list = []

    def param(value) -> str:
        params.append(value)
        return f"${len(params)}"

    vec = {space: param(v) for space, v in queries.items()}
    k_ref = param(k)
    filters = []
    if exclude_img_id is not None:
        filters.append(f"pi.img_id <> {param(exclude_img_id)}")
    if job_id is not None:
        filters.append("EXISTS (SELECT 1 FROM job_products jp "
                       f"WHERE jp.job_id = {param(job_id)} AND jp.product_id = pi.product_id)")

    knn_spaces = [s for s in queries if ranked_by in ("max", s)]
    ctes = []
    for space in knn_spaces:
        col = COLUMNS[space]
        where = " AND ".join([f"pi.{col} IS NOT NULL", *filters])
        ctes.append(f"knn_{space} AS MATERIALIZED (\n"
                    f"    SELECT pi.img_id FROM product_images pi WHERE {where}\n"
                    f"    ORDER BY pi.{col} <=> {vec[space]} LIMIT {k_ref})")
    # `= ANY (ARRAY(...))` rather than `IN (...)`: the planner then fetches the few candidates by
    # primary key instead of hash-joining them against a scan of every product image (5x faster
    # at 5k images, and the gap grows with the catalog)
    candidates = " UNION ".join(f"SELECT img_id FROM knn_{s}" for s in knn_spaces)
    sql = f"WITH {', '.join(ctes)},\n" + _rescoring(vec, ranked_by, f"ARRAY({candidates})", k_ref)
    return sql, params


def build_rescore_sql(queries: dict[str, np.ndarray], ranked_by: Space, img_ids: list[str]) -> tuple[str, list]:
    """SQL and parameters scoring the given product images against ``queries`` (space -> vector),
    best first: the rescoring step of ``build_search_sql`` on candidates found elsewhere."""
    params: list = [*queries.values(), list(img_ids)]
    vec = {space: f"${i}" for i, space in enumerate(queries, start=1)}
    return "WITH " + _rescoring(vec, ranked_by, f"${len(params)}::text[]", None), params


def _rescoring(vec: dict[str, str], ranked_by: Space, candidates: str, limit: str | None) -> str:
    """The exact rescoring every search ends with: both cosines of the images in ``candidates``
    (a text-array expression) against the query vectors (``vec``: space -> parameter reference),
    best first by the ranking similarity."""
    sims = {space: (f"1 - (pi.{COLUMNS[space]} <=> {vec[space]})" if space in vec else "NULL::float8")
            for space in COLUMNS}
    similarity = "GREATEST(sim_rgb, sim_gray)" if ranked_by == "max" else f"sim_{ranked_by}"
    return (f"scored AS (\n"
            f"    SELECT pi.img_id, pi.product_id, {sims['rgb']} AS sim_rgb, {sims['gray']} AS sim_gray\n"
            f"    FROM product_images pi WHERE pi.img_id = ANY ({candidates}))\n"
            f"SELECT img_id, product_id, sim_rgb, sim_gray, {similarity} AS similarity FROM scored\n"
            f"WHERE {similarity} IS NOT NULL\n"
            f"ORDER BY similarity DESC, img_id" + (f" LIMIT {limit}" if limit else ""))


def frame_queries(row) -> dict:
    """A frame's or image's own vectors by space, those it has."""
    return {s: row[COLUMNS[s]] for s in COLUMNS if row[COLUMNS[s]] is not None}


class VectorSearch:
    def __init__(self, pool: asyncpg.Pool, scan: ScanSettings):
        self.pool = pool
        self.scan = scan
        self.dimension: int | None = None
        self.pgvector_version: str | None = None

    async def load(self) -> None:
        """The vectors' dimension comes from the column type (fixed by EMBED_DIM at migration)."""
        self.dimension = await vector_dimension(self.pool)
        self.pgvector_version = await self.pool.fetchval(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'")

    async def readiness(self) -> bool | str:
        if self.dimension is None:
            try:
                await self.load()  # a database migrated after we started
            except asyncpg.PostgresError as exc:
                return f"schema not loaded ({exc}): run `make migrate`"
        version = tuple(int(p) for p in (self.pgvector_version or "0.0").split(".")[:2])
        if version < MIN_PGVECTOR:
            # without iterative scans a job filter silently returns fewer than k results
            return f"pgvector {self.pgvector_version} has no iterative index scans; 0.8 or newer is needed"
        return True

    # -- queries by an existing asset -----------------------------------------------------------
    async def by_image(self, img_id: str, k: int, space: Space, job_id: str | None) -> tuple[list[Hit], str | None]:
        async with self._searching(k) as conn:
            row = await conn.fetchrow(
                "SELECT emb_rgb, emb_gray FROM product_images WHERE img_id = $1", img_id)
            if row is None:
                raise NotFound(f"no product image with img_id {img_id!r}")
            await self._check_job(conn, job_id)
            # the image itself would always come first (similarity 1); callers want its neighbours
            return await self._search(conn, row, k, space, job_id, exclude_img_id=img_id,
                                      what=f"product image {img_id}")

    async def by_frame(self, frame_id: str, k: int, space: Space, job_id: str | None) -> tuple[list[Hit], str | None]:
        async with self._searching(k) as conn:
            row = await conn.fetchrow("SELECT emb_rgb, emb_gray FROM video_frames WHERE frame_id = $1", frame_id)
            if row is None:
                raise NotFound(f"no video frame with frame_id {frame_id!r}")
            await self._check_job(conn, job_id)
            return await self._search(conn, row, k, space, job_id, what=f"frame {frame_id}")

    async def frames(self, frame_ids: list[str], k: int, space: Space, job_id: str,
                     region_k: int = 0) -> list[tuple[str, list[Hit], str | None]]:
        """The matcher's batch form: one transaction for a batch of frames, in the order given.

        With ``region_k``, a frame's top-k by its own vector is followed by the ``region_k``
        nearest product images of each of its regions (``frame_regions``) not among them yet,
        best first by their similarity to the frame's own vector (what the verifier reads): a
        frame holding several products is near none of them as a whole
        (matching.retrieval.retrieve_with_regions is the same rule in numpy)."""
        async with self._searching(max(k, region_k)) as conn:
            rows = {r["frame_id"]: r for r in await conn.fetch(
                "SELECT frame_id, emb_rgb, emb_gray FROM video_frames WHERE frame_id = ANY($1::text[])",
                frame_ids)}
            missing = [f for f in frame_ids if f not in rows]
            if missing:
                raise NotFound(f"no video frame with frame_id {', '.join(repr(m) for m in missing)}")
            await self._check_job(conn, job_id)
            regions = await load_regions(conn, frame_ids) if region_k > 0 else {}
            out = []
            for frame_id in frame_ids:
                hits, reason = await self._search(conn, rows[frame_id], k, space, job_id, what=f"frame {frame_id}")
                if hits and regions.get(frame_id):
                    hits = hits + await self._region_hits(conn, rows[frame_id], regions[frame_id], region_k,
                                                          space, job_id, {h.img_id for h in hits})
                out.append((frame_id, hits, reason))
            return out

    async def _region_hits(self, conn, row, regions: list[tuple], region_k: int, space: Space, job_id: str,
                           seen: set[str]) -> list[Hit]:
        """The nearest product images of each region that ``seen`` lacks, scored against the
        frame's own vectors, best first."""
        found: dict[str, int] = {}
        for n, (rgb, gray) in enumerate(regions, start=1):
            for h in await self._run(conn, {"rgb": rgb, "gray": gray}, space, region_k, job_id, None):
                if h.img_id not in seen and h.img_id not in found:
                    found[h.img_id] = n
        if not found:
            return []
        sql, params = build_rescore_sql(frame_queries(row), space, list(found))
        return [Hit(r["img_id"], r["product_id"], r["sim_rgb"], r["sim_gray"], r["similarity"], found[r["img_id"]])
                for r in await conn.fetch(sql, *params)]

    # -- query by a raw vector ------------------------------------------------------------------
    async def by_vector(self, vector: list[float], k: int, space: Literal["rgb", "gray"],
                        job_id: str | None) -> list[Hit]:
        q = np.asarray(vector, dtype=np.float32)
        if self.dimension is not None and q.shape != (self.dimension,):
            raise BadQuery(f"vector has {q.shape[0]} dimensions; the index holds {self.dimension}-dimensional "
                           "vectors (EMBED_DIM)")
        if not np.isfinite(q).all():
            raise BadQuery("vector has a value that is not finite in float32")
        if not np.any(q):
            raise BadQuery("vector is all zeros: cosine similarity is undefined for it")
        async with self._searching(k) as conn:
            await self._check_job(conn, job_id)
            return await self._run(conn, {space: q}, space, k, job_id, None)

    # -- internals --------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _searching(self, k: int):
        """A read-only transaction with the HNSW scan settings for ``k`` set once for all its searches."""
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            await configure_scan(conn, self.scan, k)
            yield conn

    async def _check_job(self, conn: asyncpg.Connection, job_id: str | None) -> None:
        if job_id is not None and await conn.fetchval("SELECT 1 FROM jobs WHERE job_id = $1", job_id) is None:
            raise NotFound(f"no job with job_id {job_id!r}")

    async def _search(self, conn, row, k: int, space: Space, job_id: str | None, *,
                      exclude_img_id: str | None = None, what: str) -> tuple[list[Hit], str | None]:
        queries = frame_queries(row)
        if not queries:
            return [], f"{what} has no embedding yet (vision-embedding has not written emb_rgb/emb_gray)"
        if space != "max" and space not in queries:
            return [], f"{what} has no {COLUMNS[space]} embedding yet"
        return await self._run(conn, queries, space, k, job_id, exclude_img_id), None

    async def _run(self, conn, queries: dict[str, np.ndarray], space: Space, k: int,
                   job_id: str | None, exclude_img_id: str | None) -> list[Hit]:
        sql, params = build_search_sql(queries, space, k, job_id, exclude_img_id)
        return [Hit(r["img_id"], r["product_id"], r["sim_rgb"], r["sim_gray"], r["similarity"])
                for r in await conn.fetch(sql, *params)]
