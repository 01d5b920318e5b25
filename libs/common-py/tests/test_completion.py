"""Exactly one .completed per (job, stage), whatever the interleaving of replicas."""

import asyncio
import random

import pytest

from common_py import completion
from common_py.testing import create_job
from common_py.uow import UnitOfWork

STAGE, KEY = "image.embeddings", "image.embeddings.completed"


async def finish_asset(uow, job_id, asset_id, status="done"):
    async with uow.begin() as tx:
        await completion.mark_asset(tx, job_id, STAGE, asset_id, status)
        return await completion.complete_if_done(tx, job_id, STAGE, KEY)


async def set_expected(uow, job_id, n):
    async with uow.begin() as tx:
        return await completion.complete_if_done(tx, job_id, STAGE, KEY, expected=n)


async def completions(db_pool, job_id):
    return await db_pool.fetchval("SELECT count(*) FROM outbox WHERE job_id = $1 AND routing_key = $2", job_id, KEY)


async def test_many_concurrent_finishers_emit_one_completion(db_pool):
    uow = UnitOfWork(db_pool)
    for trial in range(5):
        job_id = await create_job(db_pool)
        n = 12
        # 12 assets finished concurrently by "replicas" (some twice: redeliveries), count arrives anywhere
        work = [finish_asset(uow, job_id, f"a{i}") for i in range(n)]
        work += [finish_asset(uow, job_id, f"a{i}") for i in random.sample(range(n), 4)]
        work.insert(random.randrange(len(work)), set_expected(uow, job_id, n))
        results = await asyncio.gather(*work)
        assert sum(bool(r) for r in results) == 1, f"trial {trial}"
        assert await completions(db_pool, job_id) == 1
        state = await completion.progress(db_pool, job_id, STAGE)
        assert (state.expected, state.done, state.completed) == (n, n, True)


async def test_not_complete_until_count_known_and_all_finished(db_pool):
    uow = UnitOfWork(db_pool)
    job_id = await create_job(db_pool)
    assert not await finish_asset(uow, job_id, "a0")
    assert not await finish_asset(uow, job_id, "a1", status="failed")  # no count yet
    assert not await set_expected(uow, job_id, 3)
    assert await completions(db_pool, job_id) == 0
    assert await finish_asset(uow, job_id, "a2")  # failed assets count as finished
    assert not await finish_asset(uow, job_id, "a2")
    assert await completions(db_pool, job_id) == 1
    state = await completion.progress(db_pool, job_id, STAGE)
    assert (state.done, state.failed) == (2, 1)


async def test_empty_batch_completes_at_once(db_pool):
    uow = UnitOfWork(db_pool)
    job_id = await create_job(db_pool)
    assert await set_expected(uow, job_id, 0)
    assert not await set_expected(uow, job_id, 0)  # a duplicated count event changes nothing
    assert await completions(db_pool, job_id) == 1


async def test_pending_assets_are_not_finished(db_pool):
    uow = UnitOfWork(db_pool)
    job_id = await create_job(db_pool)
    async with uow.begin() as tx:
        await completion.register_asset(tx, job_id, STAGE, "a0", local_path="products/p/a0.jpg", due_in_s=30)
    assert not await set_expected(uow, job_id, 1)
    row = await db_pool.fetchrow("SELECT status, due_at > now() AS later FROM stage_assets WHERE job_id = $1", job_id)
    assert row["status"] == "pending" and row["later"]
    assert await finish_asset(uow, job_id, "a0")


@pytest.mark.parametrize("first", ["asset", "count"])
async def test_an_event_waits_for_a_concurrent_one_and_sees_its_effect(db_pool, first):
    """The last asset and the count arrive at once, in two transactions: whichever reaches the
    stage second must wait for the first to commit (even when the first is still creating the
    stage row), then see what it recorded and complete the stage. Neither may miss the other."""
    uow = UnitOfWork(db_pool)
    job_id = await create_job(db_pool)

    async def asset(tx):
        await completion.mark_asset(tx, job_id, STAGE, "a0")
        return await completion.complete_if_done(tx, job_id, STAGE, KEY)

    async def count(tx):
        return await completion.complete_if_done(tx, job_id, STAGE, KEY, expected=1)

    events = {"asset": asset, "count": count}
    later = events["count" if first == "asset" else "asset"]

    async def run_later():
        async with uow.begin() as tx:
            return await later(tx)

    async with uow.begin() as tx:
        assert not await events[first](tx)  # alone it cannot complete the stage
        second = asyncio.create_task(run_later())
        await asyncio.sleep(0.5)
        assert not second.done(), "the second event must wait for the stage row lock"
    assert await second
    assert await completions(db_pool, job_id) == 1
