"""Request and response shapes of the HTTP API (they are also the OpenAPI schema at /docs)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

Space = Literal["max", "rgb", "gray"]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class SearchHit(BaseModel):
    img_id: str
    product_id: str
    sim_rgb: float | None = Field(description="cosine similarity of the emb_rgb vectors (null: not computed)")
    sim_gray: float | None = Field(description="cosine similarity of the emb_gray vectors (null: not computed)")
    similarity: float = Field(description="the ranking similarity: max(sim_rgb, sim_gray) for space=max, "
                                          "else the named space's")
    region: int | None = Field(None, description="POST /search/frames with region_k: the frame region whose "
                                                 "vector brought this result (null: the frame's own vector)")


class AssetSearchResponse(BaseModel):
    image_id: str | None
    frame_id: str | None
    job_id: str | None
    k: int
    space: Space
    results: list[SearchHit] = Field(description="best first")
    reason: str | None = Field(None, description="why results is empty when the asset has no embedding yet")


class VectorSearchRequest(BaseModel):
    vector: list[FiniteFloat] = Field(min_length=1, description="a query embedding (EMBED_DIM floats)")
    k: int = Field(20, ge=1, description="results wanted (at most SEARCH_K_MAX)")
    job_id: str | None = Field(None, description="only products this job collected")
    space: Literal["rgb", "gray"] = Field("rgb", description="which column the vector is compared with")


class VectorSearchResponse(BaseModel):
    job_id: str | None
    k: int
    space: Literal["rgb", "gray"]
    results: list[SearchHit]


class FramesSearchRequest(BaseModel):
    frame_ids: list[str] = Field(min_length=1, description="at most SEARCH_MAX_FRAMES; duplicates are answered once")
    k: int = Field(20, ge=1, description="results per frame (at most SEARCH_K_MAX)")
    job_id: str = Field(description="only products this job collected")
    space: Space = Field("max", description="SPEC §6.1 ranks by max(cos_rgb, cos_gray)")
    region_k: int = Field(0, ge=0, description="besides the k nearest to the frame's own vector, the region_k "
                                               "nearest to each of its regions (frame_regions) not among them "
                                               "yet, ranked by their similarity to the frame's own vector; "
                                               "0: the frame's own vector only (at most SEARCH_K_MAX)")


class FrameResults(BaseModel):
    frame_id: str
    results: list[SearchHit] = Field(description="best first")
    reason: str | None = Field(None, description="why results is empty when the frame has no embedding yet")


class FramesSearchResponse(BaseModel):
    job_id: str
    k: int
    region_k: int = 0
    space: Space
    frames: list[FrameResults] = Field(description="in the order of the request's frame_ids")
