"""docker-compose.dev.yml as Compose reads it (YAML with anchors and merge keys), checked without a
Docker engine: every service is there and built from its own Dockerfile, waits for what it needs,
reaches the infrastructure by service name, is health-checked on /readyz at the port its image
listens on, and shares the data volume; the GPU service has its CPU fallback."""

import shutil
import subprocess
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from opsparse import REPO, SERVICES, env_of, parse_dockerfile

COMPOSE_FILE = REPO / "docker-compose.dev.yml"
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
ALL = COMPOSE["services"]
HTTP_ONLY = {"results-api", "vector-index"}  # run_service(..., use_bus=False): no broker to wait for
APP = {name: svc for name, svc in ALL.items() if "build" in svc and name != "migrate"}


def dockerfile_of(name):
    return REPO / ALL[name]["build"]["dockerfile"]


def service_of(name):
    """The services/ folder a compose service builds (vision-embedding-cpu -> vision-embedding)."""
    return PurePosixPath(ALL[name]["build"]["dockerfile"]).parent.name


def test_infrastructure_and_every_service_are_defined():
    assert {"postgres", "rabbitmq", "redis", "migrate"} <= set(ALL)
    assert sorted({service_of(n) for n in APP}) == SERVICES
    assert ALL["postgres"]["image"].startswith("pgvector/pgvector:0.8")
    assert ALL["rabbitmq"]["image"].startswith("rabbitmq:3.") and ALL["rabbitmq"]["image"].endswith("-management")
    assert "127.0.0.1:15672:15672" in ALL["rabbitmq"]["ports"]
    for name, svc in ALL.items():
        if "image" in svc and "build" not in svc:
            tag = svc["image"].partition(":")[2]
            pinned = tag and tag != "latest" and (tag[0].isdigit() or tag.startswith("v"))
            assert pinned, f"{name}: unpinned {svc['image']}"
        if "profiles" not in svc:
            assert "healthcheck" in svc or name == "migrate", f"{name} has no healthcheck"


@pytest.mark.parametrize("name", sorted(APP))
def test_each_service_is_built_from_its_dockerfile_and_checked_on_readyz(name):
    svc = ALL[name]
    assert svc["build"]["context"] == "." and dockerfile_of(name).is_file()
    image_env = env_of(parse_dockerfile(dockerfile_of(name))[1][-1])
    env = svc["environment"]
    assert env["HTTP_PORT"] == image_env["HTTP_PORT"]
    test = svc["healthcheck"]["test"]
    assert test[0] == "CMD" and test[-1] == f"http://127.0.0.1:{env['HTTP_PORT']}/readyz", test
    assert "urlopen" in " ".join(test)  # urlopen raises on the 503 of a service that is not ready
    assert env["HTTP_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("name", sorted(APP))
def test_each_service_reaches_the_infrastructure_by_service_name(name):
    env = ALL[name]["environment"]
    assert urlsplit(env["POSTGRES_DSN"]).hostname == "postgres"
    assert urlsplit(env["POSTGRES_DSN"]).path == "/" + ALL["postgres"]["environment"]["POSTGRES_DB"]
    assert urlsplit(env["BUS_BROKER"]).hostname == "rabbitmq"
    assert urlsplit(env["REDIS_URL"]).hostname == "redis"
    calls = {"matcher": "VECTOR_INDEX_URL", "results-api": "ORCHESTRATOR_URL"}  # service-to-service HTTP
    if service_of(name) in calls:
        peer = urlsplit(env[calls[service_of(name)]])
        assert peer.hostname in ALL and str(peer.port) == ALL[peer.hostname]["environment"]["HTTP_PORT"]


@pytest.mark.parametrize("name", sorted(APP))
def test_each_service_shares_the_data_volume_and_reads_env(name):
    svc = ALL[name]
    image_env = env_of(parse_dockerfile(dockerfile_of(name))[1][-1])
    mounts = [v.rsplit(":", 1) for v in svc["volumes"]]
    assert ["${DATA_DIR:-./data}", "/app/data"] in mounts
    assert svc["environment"]["DATA_ROOT"] == image_env["DATA_ROOT"] == "/app/data"
    assert {"path": ".env", "required": False} in svc["env_file"]
    # an image path a .env written for `make up` (host paths) must not override
    if "MODELS_DIR" in image_env:
        assert svc["environment"]["MODELS_DIR"] == image_env["MODELS_DIR"]


@pytest.mark.parametrize("name", sorted(APP))
def test_each_service_waits_for_healthy_infrastructure_and_migrations(name):
    deps = ALL[name]["depends_on"]
    assert deps["postgres"] == {"condition": "service_healthy"}
    assert deps["migrate"] == {"condition": "service_completed_successfully"}
    if service_of(name) not in HTTP_ONLY:
        assert deps["rabbitmq"] == {"condition": "service_healthy"}
    for dep, cond in deps.items():
        assert dep in ALL, f"{name} depends on unknown {dep}"
        if cond["condition"] == "service_healthy":
            assert "healthcheck" in ALL[dep], f"{name} waits for {dep} to be healthy, but it has no healthcheck"


def test_migrate_runs_alembic_from_an_image_that_has_the_migrations():
    migrate = ALL["migrate"]
    assert migrate["command"] == ["python", "-m", "common_py.devstack", "migrate"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert migrate.get("restart") == "no"
    final = parse_dockerfile(REPO / migrate["build"]["dockerfile"])[1][-1]
    copies = [i.args.split() for i in final.all("COPY")]
    assert ["infra/migrations", env_of(final)["MIGRATIONS_DIR"]] in copies
    assert urlsplit(migrate["environment"]["POSTGRES_DSN"]).hostname == "postgres"


def test_vision_embedding_reserves_a_gpu_and_has_a_cpu_fallback_profile():
    gpu, cpu = ALL["vision-embedding"], ALL["vision-embedding-cpu"]
    assert gpu["profiles"] == ["gpu"] and cpu["profiles"] == ["cpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert gpu["environment"]["EMBED_DEVICE"] == "cuda" and cpu["environment"]["EMBED_DEVICE"] == "cpu"
    assert "deploy" not in cpu and gpu["build"] == cpu["build"] and gpu["image"] == cpu["image"]
    assert "vision-embedding" in cpu["networks"]["default"]["aliases"]  # what Prometheus scrapes
    # every other service runs whatever the profile
    assert [n for n, s in APP.items() if "profiles" in s] == ["vision-embedding", "vision-embedding-cpu"]


def test_the_apis_are_published_on_their_ports():
    published = {name: [p.rsplit(":", 1)[-1] for p in svc.get("ports", [])] for name, svc in ALL.items()}
    for name in ("orchestrator", "results-api", "vector-index"):
        assert published[name] == [ALL[name]["environment"]["HTTP_PORT"]]


def test_observability_profile_loads_the_ops_files():
    prom, grafana = ALL["prometheus"], ALL["grafana"]
    assert prom["profiles"] == grafana["profiles"] == ["observability"]
    for svc in (prom, grafana):
        for volume in svc["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{volume}: {source} does not exist"
    assert "./ops/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prom["volumes"]
    assert "./ops/prom-rules:/etc/prometheus/rules:ro" in prom["volumes"]
    assert any(v.startswith("./ops/grafana-dashboards:") for v in grafana["volumes"])


@pytest.mark.skipif(not shutil.which("docker") or subprocess.run(
    ["docker", "compose", "version"], capture_output=True).returncode != 0, reason="no `docker compose` here")
def test_docker_compose_itself_accepts_the_file():
    for profile in ("cpu", "gpu"):
        run = subprocess.run(["docker", "compose", "-f", str(COMPOSE_FILE), "--profile", profile, "config", "-q"],
                             cwd=REPO, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
