"""Response shapes of the API (they are also the OpenAPI schema at /docs)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ProductRef(BaseModel):
    product_id: str
    title: str | None
    brand: str | None
    url: str | None
    src: str
    thumbnail_url: str | None = Field(description="path on this API of the product image that matched best")


class VideoRef(BaseModel):
    video_id: str
    title: str | None
    url: str | None
    platform: str
    duration_s: float | None


class Segment(BaseModel):
    start: float = Field(description="seconds into the video where the product comes into view")
    end: float = Field(description="seconds into the video where it is last seen")
    best_ts: float = Field(description="the best frame of this stretch")
    score: float = Field(description="score of that frame's pair")


class MatchSummary(BaseModel):
    match_id: str
    job_id: str
    industry: str
    score: float = Field(description="final score in [0, 1] (SPEC §6.4)")
    ts: float = Field(description="seconds into the video of the best frame")
    best_img_id: str
    best_frame_id: str
    product: ProductRef
    video: VideoRef
    evidence_url: str | None = Field(description="path of the evidence image on this API; null until it exists")
    segments: list[Segment] = Field(default_factory=list, description=(
        "every stretch of the video where the product is seen, in time order; ts is the best frame"))
    watch_url: str | None = Field(description="the video's page opened at `ts` (YouTube `&t=`, Bilibili `?t=`); "
                                              "null when the video has no web address")
    created_at: datetime


class MatchDetail(MatchSummary):
    score_pair: float | None = Field(description="score of the best (image, frame) pair")
    consistency: int | None = Field(description="pairs scoring >= 0.80")
    coverage: int | None


class ResultsPage(BaseModel):
    items: list[MatchSummary] = Field(description="score descending, then match_id")
    total: int = Field(description="matches passing the filters, all pages together")
    limit: int
    offset: int


class ProductImage(BaseModel):
    img_id: str
    local_path: str = Field(description="relative to DATA_ROOT")
    image_url: str = Field(description="path of the image on this API")
    masked_local_path: str | None
    has_embedding: bool
    created_at: datetime


class Product(BaseModel):
    product_id: str
    src: str
    asin_or_itemid: str
    title: str | None
    brand: str | None
    url: str | None
    price: float | None
    currency: str | None
    created_at: datetime
    images: list[ProductImage]


class VideoFrame(BaseModel):
    frame_id: str
    ts: float = Field(description="seconds into the video")
    shot_start: float | None = Field(None, description="start of the stretch of video the keyframe stands for")
    shot_end: float | None = Field(None, description="its end")
    local_path: str = Field(description="relative to DATA_ROOT")
    image_url: str = Field(description="path of the keyframe on this API")
    masked_local_path: str | None
    has_embedding: bool


class Video(BaseModel):
    video_id: str
    platform: str
    url: str | None
    title: str | None
    duration_s: float | None
    published_at: datetime | None
    frames: list[VideoFrame] = Field(description="by ts")
