"""HTTP endpoints (SPEC §7): thin; validation by FastAPI, work in services/read_model.py."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.responses import FileResponse

from services.models import MatchDetail, Product, ResultsPage, Video
from services.read_model import ReadModel, ResultsQuery

router = APIRouter()

IndustryQ = Query(None, min_length=1, description="jobs.industry, case-insensitive, exact")
MinScoreQ = Query(None, ge=0, le=1, description="only matches scoring at least this")
LimitQ = Query(50, ge=1, le=200, description="page size")
OffsetQ = Query(0, ge=0, le=1_000_000_000, description="matches to skip")


def _model(request: Request) -> ReadModel:
    return request.app.state.read_model


async def _results_response(request: Request, q: ResultsQuery) -> Response:
    body, outcome = await _model(request).results(q)
    # X-Cache says where the answer came from: hit / miss (Redis), bypass (Redis down), off
    return Response(body, media_type="application/json", headers={"X-Cache": outcome})


@router.get("/results", response_model=ResultsPage, tags=["results"],
            summary="Accepted (product, video) matches, best score first",
            responses={200: {"headers": {"X-Cache": {"description": "hit, miss, bypass or off",
                                                     "schema": {"type": "string"}}}}})
async def results(request: Request, industry: str | None = IndustryQ, job_id: str | None = Query(None, min_length=1),
                  min_score: float | None = MinScoreQ,
                  product_id: str | None = Query(None, min_length=1, description="one product's matches"),
                  video_id: str | None = Query(None, min_length=1, description="one video's matches"),
                  limit: int = LimitQ, offset: int = OffsetQ) -> Response:
    industry = industry.strip() if industry else industry
    if job_id is not None and not await _model(request).job_exists(job_id):
        # a job id names one job: an unknown one is not "a job without matches"
        raise HTTPException(404, f"no job with job_id {job_id!r}")
    return await _results_response(request, ResultsQuery(industry or None, job_id, min_score, product_id, video_id,
                                                         limit, offset))


@router.get("/jobs/{job_id}/matches", response_model=ResultsPage, tags=["results"],
            summary="The matches of one job (404 for an unknown job)")
async def job_matches(request: Request, job_id: str, min_score: float | None = MinScoreQ,
                      limit: int = LimitQ, offset: int = OffsetQ) -> Response:
    if not await _model(request).job_exists(job_id):
        raise HTTPException(404, f"no job with job_id {job_id!r}")
    return await _results_response(request, ResultsQuery(job_id=job_id, min_score=min_score, limit=limit,
                                                         offset=offset))


@router.get("/matches/{match_id}", response_model=MatchDetail, tags=["results"], summary="One match")
async def match(request: Request, match_id: str) -> MatchDetail:
    found = await _model(request).match(match_id)
    if found is None:
        raise HTTPException(404, f"no match with match_id {match_id!r}")
    return found


@router.get("/products/{product_id}", response_model=Product, tags=["assets"], summary="A product and its images")
async def product(request: Request, product_id: str) -> Product:
    found = await _model(request).product(product_id)
    if found is None:
        raise HTTPException(404, f"no product with product_id {product_id!r}")
    return found


@router.get("/videos/{video_id}", response_model=Video, tags=["assets"], summary="A video and its keyframes")
async def video(request: Request, video_id: str) -> Video:
    found = await _model(request).video(video_id)
    if found is None:
        raise HTTPException(404, f"no video with video_id {video_id!r}")
    return found


@router.get("/evidence/{match_id}.jpg", tags=["results"], response_class=FileResponse,
            summary="The evidence image of a match (catalog image and keyframe side by side)",
            responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "no such match or no image yet"}})
async def evidence(request: Request, match_id: str = Path(description="the match's id")) -> FileResponse:
    exists, path = await _model(request).evidence_file(match_id)
    if not exists:
        raise HTTPException(404, f"no match with match_id {match_id!r}")
    if path is None:
        raise HTTPException(404, f"match {match_id!r} has no evidence image yet")
    return FileResponse(path, media_type="image/jpeg")


@router.get("/product-images/{img_id}", tags=["assets"], response_class=FileResponse,
            summary="A catalog image of a product (the `image_url` of /products/{id}, a match's thumbnail)",
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}, 404: {"description": "no such image"}})
async def product_image(request: Request, img_id: str) -> FileResponse:
    return await _image(request, "product", img_id)


@router.get("/frames/{frame_id}", tags=["assets"], response_class=FileResponse,
            summary="A keyframe of a video (the `image_url` of /videos/{id})",
            responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "no such keyframe"}})
async def frame_image(request: Request, frame_id: str) -> FileResponse:
    return await _image(request, "frame", frame_id)


async def _image(request: Request, kind: str, asset_id: str) -> FileResponse:
    path = await _model(request).image_file(kind, asset_id)
    if path is None:
        what = "product image" if kind == "product" else "keyframe"
        raise HTTPException(404, f"no {what} {asset_id!r} (or its file is gone from DATA_ROOT)")
    # a gallery shows the same thumbnails again and again while it refreshes: let the browser keep
    # them a few minutes (ids are stable: a product's source reference, a video's timestamp)
    return FileResponse(path, headers={"Cache-Control": "private, max-age=300"})
