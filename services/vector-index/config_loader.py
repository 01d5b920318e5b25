"""Settings of vector-index: the shared ones (common_py.settings) plus its own, all from env."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings


class VectorIndexConfig(CommonSettings):
    http_port: int = Field(8090, validation_alias=AliasChoices("VECTOR_INDEX_PORT", "HTTP_PORT"))
    # pgvector caps hnsw.ef_search at 1000 and ef_search must be >= k, so k cannot exceed it either.
    search_k_max: int = Field(200, ge=1, le=1000, description="largest k a request may ask for")
    search_max_frames: int = Field(256, ge=1, description="most frame_ids one POST /search/frames may carry")
    hnsw_ef_search: int = Field(
        100, ge=1, le=1000,
        description="HNSW candidate list size per query; the service uses max(this, k)")
    hnsw_max_scan_tuples: int = Field(
        20000, ge=1,
        description="how many index tuples an iterative (filtered) scan may visit before it gives up; "
        "raise it when a job's products are a tiny share of a very large catalog")


def load_config() -> VectorIndexConfig:
    return VectorIndexConfig()
