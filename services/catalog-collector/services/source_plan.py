"""Which product sources run for a job, decided by configuration and the job's caps."""

from __future__ import annotations

from services.collector import SourcePlan
from services.sources.local import LocalProductSource


def build_source_planner(config):
    local = LocalProductSource(config.local_dataset_dir) if config.local_dataset_dir else None

    def plan(top_amz: int, top_ebay: int) -> list[SourcePlan]:
        plans = []
        if local is not None:
            # SPEC §8: amazon/ebay-labelled entries keep their caps; `local` ones share the sum
            plans.append(SourcePlan(local, {"amazon": top_amz, "ebay": top_ebay, "local": top_amz + top_ebay}))
        return plans

    return plan
