"""HTTP endpoints: thin; shapes in services/models.py, work in services/search.py."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError

from services.models import (AssetSearchResponse, FrameResults, FramesSearchRequest, FramesSearchResponse,
                             SearchHit, Space, VectorSearchRequest, VectorSearchResponse)
from services.search import BadQuery, Hit, NotFound, VectorSearch

router = APIRouter(tags=["search"])


def _invalid(loc: tuple, msg: str, value=None) -> RequestValidationError:
    """A 422 in the same shape as FastAPI's own validation errors."""
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": msg, "input": value}])


def _search(request: Request) -> VectorSearch:
    search: VectorSearch | None = getattr(request.app.state, "search", None)
    if search is None or search.dimension is None:
        raise HTTPException(503, "vector-index is not ready (database schema not loaded yet)")
    return search


def _check_k(request: Request, k: int, loc: tuple) -> None:
    k_max = request.app.state.config.search_k_max
    if k > k_max:
        raise _invalid(loc, f"k must be at most {k_max} (SEARCH_K_MAX)", k)


def _hits(hits: list[Hit]) -> list[SearchHit]:
    return [SearchHit(**h.as_dict()) for h in hits]


@router.get("/search", response_model=AssetSearchResponse,
            summary="Nearest product images to an existing product image's or video frame's vectors")
async def search_by_asset(
    request: Request,
    image_id: str | None = Query(None, description="a product image (itself excluded from the results)"),
    frame_id: str | None = Query(None, description="a video frame"),
    k: int = Query(20, ge=1, description="results wanted (at most SEARCH_K_MAX)"),
    job_id: str | None = Query(None, description="only products this job collected"),
    space: Space = Query("max", description="max(cos_rgb, cos_gray), or one space"),
) -> AssetSearchResponse:
    if (image_id is None) == (frame_id is None):
        raise _invalid(("query", "image_id"), "give exactly one of image_id or frame_id")
    _check_k(request, k, ("query", "k"))
    search = _search(request)
    try:
        if image_id is not None:
            hits, reason = await search.by_image(image_id, k, space, job_id)
        else:
            hits, reason = await search.by_frame(frame_id, k, space, job_id)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    return AssetSearchResponse(image_id=image_id, frame_id=frame_id, job_id=job_id, k=k, space=space,
                               results=_hits(hits), reason=reason)


@router.post("/search", response_model=VectorSearchResponse,
             summary="Nearest product images to a raw vector")
async def search_by_vector(body: VectorSearchRequest, request: Request) -> VectorSearchResponse:
    _check_k(request, body.k, ("body", "k"))
    search = _search(request)
    try:
        hits = await search.by_vector(body.vector, body.k, body.space, body.job_id)
    except BadQuery as exc:
        raise _invalid(("body", "vector"), str(exc)) from exc
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    return VectorSearchResponse(job_id=body.job_id, k=body.k, space=body.space, results=_hits(hits))


@router.post("/search/frames", response_model=FramesSearchResponse,
             summary="Per frame, the top-k product images of a job (the matcher calls this once per video)")
async def search_frames(body: FramesSearchRequest, request: Request) -> FramesSearchResponse:
    _check_k(request, body.k, ("body", "k"))
    _check_k(request, body.region_k, ("body", "region_k"))
    frame_ids = list(dict.fromkeys(body.frame_ids))
    max_frames = request.app.state.config.search_max_frames
    if len(frame_ids) > max_frames:
        raise _invalid(("body", "frame_ids"), f"at most {max_frames} frame_ids per request (SEARCH_MAX_FRAMES)")
    search = _search(request)
    try:
        answers = await search.frames(frame_ids, body.k, body.space, body.job_id, body.region_k)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    return FramesSearchResponse(job_id=body.job_id, k=body.k, region_k=body.region_k, space=body.space, frames=[
        FrameResults(frame_id=f, results=_hits(hits), reason=reason) for f, hits, reason in answers])
