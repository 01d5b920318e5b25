"""Request and response models of the orchestrator's HTTP API (SPEC §7)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from common_py.api_errors import StorableStr

Platform = Literal["youtube", "bilibili"]


class StartJobRequest(BaseModel):
    industry: StorableStr = Field(..., min_length=1, max_length=200, examples=["ergonomic pillow"],
                          description="industry keyword; `*` selects everything in a local dataset")
    top_amz: int = Field(10, ge=0, le=100, description="products to collect from Amazon")
    top_ebay: int = Field(10, ge=0, le=100, description="products to collect from eBay")
    platforms: list[Platform] = Field(default_factory=lambda: ["youtube", "bilibili"], min_length=1)
    recency_days: int = Field(365, ge=1, le=36500, description="only videos published this recently")
    queries: list[StorableStr] | None = Field(None, max_length=20,
                                      description="video search queries (default: the industry itself)")

    @field_validator("industry")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("industry must not be blank")
        return value

    @field_validator("queries")
    @classmethod
    def _clean_queries(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = [q.strip() for q in value if q and q.strip()]
        if any(len(q) > 200 for q in cleaned):
            raise ValueError("each query must be at most 200 characters")
        return cleaned or None

    @field_validator("platforms")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class StartJobResponse(BaseModel):
    job_id: str
    phase: str
    status_url: str
