"""/readyz of results-api: the shared runtime's checks (the database) decide readiness; Redis is
reported beside them ("ok", "off" or "degraded: ...") but never makes the API unready, because
/results answers from Postgres when Redis is down (see README, "Why Redis does not gate
readiness").

The shared runtime counts every registered check as required, so this route is registered on the
app before the runtime adds its own /readyz, and takes precedence over it (Starlette matches the
first route). It delegates to `runtime.readiness()`, so checks added there still count.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

router = APIRouter()

OPTIONAL_CHECKS = {"redis"}


@router.get("/readyz", include_in_schema=False)
async def readyz_with_optional_cache(request: Request, response: Response) -> dict:
    runtime = request.app.state.runtime
    checks = await runtime.readiness()
    checks["redis"] = await request.app.state.read_model.cache.check()
    ok = all(v == "ok" for name, v in checks.items() if name not in OPTIONAL_CHECKS)
    response.status_code = 200 if ok else 503
    return {"status": "ready" if ok else "not ready", "service": runtime.name, "checks": checks}
