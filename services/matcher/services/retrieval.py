"""Retrieval through vector-index (SPEC §6.1): per keyframe, the top-K catalog images of the job
by max(cos rgb, cos gray), from pgvector HNSW, then the nearest few of each of its regions
(RETRIEVAL_REGION_K; matching.retrieval.retrieve_with_regions is the same rule)."""

from __future__ import annotations

import httpx

from common_py.errors import ErrorCode, FatalError, RetryableError


class VectorIndexClient:
    def __init__(self, base_url: str, timeout_s: float):
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)

    async def top_k(self, job_id: str, frame_ids: list[str], k: int,
                    region_k: int = 0) -> dict[str, list[tuple[str, float]]]:
        """frame_id -> [(img_id, similarity)], best first."""
        out: dict[str, list[tuple[str, float]]] = {}
        for start in range(0, len(frame_ids), 200):
            chunk = frame_ids[start:start + 200]
            try:
                r = await self.client.post("/search/frames", json={"frame_ids": chunk, "job_id": job_id, "k": k,
                                                                  "region_k": region_k})
            except httpx.HTTPError as exc:
                raise RetryableError(f"vector-index unreachable: {exc}") from exc
            if r.status_code >= 500:
                raise RetryableError(f"vector-index answered {r.status_code}: {r.text[:300]}")
            if r.status_code != 200:
                raise FatalError(f"vector-index refused the search: {r.status_code} {r.text[:300]}", ErrorCode.BAD_INPUT)
            for frame in r.json()["frames"]:
                out[frame["frame_id"]] = [(c["img_id"], c["similarity"]) for c in frame["results"]]
        return out

    async def close(self) -> None:
        await self.client.aclose()
