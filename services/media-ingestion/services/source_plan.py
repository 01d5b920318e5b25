"""Which video sources run for a job, decided by configuration and the job's platforms."""

from __future__ import annotations

from services.sources.local import LocalVideoSource


def build_source_planner(config):
    local = LocalVideoSource(config.local_dataset_dir) if config.local_dataset_dir else None

    def plan(platforms: list[str]) -> list:
        sources = []
        if local is not None:
            sources.append(local)
        return sources

    return plan
