"""`python -m common_py.devstack` (make up/down/status) reads the repository's .env under the real
environment: the ports there are read from the process environment, not by pydantic-settings."""

from pathlib import Path

from common_py.devstack import __main__ as devstack
from common_py.devstack.services import plan


def test_env_file_sets_the_ports_but_never_overrides_the_environment(tmp_path, monkeypatch, capsys):
    assert devstack.ENV_FILE == Path(__file__).resolve().parents[3] / ".env"  # the repository root
    env_file = tmp_path / ".env"
    env_file.write_text("ORCHESTRATOR_PORT=9100   # a comment, as in .env.example\n"
                        "RESULTS_API_PORT=9999\nSERVICE_PORT_OFFSET=5\n")
    monkeypatch.setattr(devstack, "ENV_FILE", env_file)
    for key in ("ORCHESTRATOR_PORT", "SERVICE_PORT_OFFSET"):
        monkeypatch.setenv(key, "")  # recorded, so what .env puts here is undone after the test
        monkeypatch.delenv(key)
    monkeypatch.setenv("RESULTS_API_PORT", "9200")
    monkeypatch.setenv("DATA_ROOT", str(tmp_path / "data"))  # `status` of an empty stack: starts nothing

    assert devstack.main(["status"]) == 0
    ports = {p.name: p.port for p in plan({})}
    assert ports["orchestrator"] == 9105  # from .env, shifted by the offset from .env
    assert ports["results-api"] == 9205  # the environment's 9200 wins over .env's 9999
    assert ports["vector-index"] == 8095 and ports["matcher"] == 8111  # defaults, shifted
    assert "not running" in capsys.readouterr().out
