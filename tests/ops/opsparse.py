"""Readers for the ops files, small enough to trust: Dockerfiles, .dockerignore, requirement
chains and the metric names in PromQL. With no Docker engine here, the tests check the files the
way the engine and Prometheus would read them."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "main.py").is_file())


# -- Dockerfiles --------------------------------------------------------------------------------
@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """(ARGs declared before the first FROM with their defaults, stages in order)."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        if not current and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if current and raw.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        lines.append(current + raw)
        current = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            base, _, name = rest.partition(" AS ")
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), base.strip())
            stages.append(Stage(base, name.strip() or None))
        elif not stages:
            if keyword == "ARG":
                key, _, default = rest.partition("=")
                args[key] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, rest))
    return args, stages


def copy_parts(instr: Instruction) -> tuple[dict[str, str], list[str], str]:
    """COPY --flag=value ... src... dest -> (flags, sources, dest)."""
    words = shlex.split(instr.args)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    return flags, words[:-1], words[-1]


def image_path(workdir: str, path: str) -> PurePosixPath:
    return PurePosixPath(path if path.startswith("/") else f"{workdir}/{path}")


def copied_files(stage: Stage, until: Instruction | None = None) -> dict[PurePosixPath, Path]:
    """Files the stage has copied from the build context, as image path -> repository path, up to
    (not including) `until`. Follows WORKDIR and Docker's rules for a trailing '/' destination."""
    out: dict[PurePosixPath, Path] = {}
    workdir = "/"
    for instr in stage.instructions:
        if instr is until:
            break
        if instr.keyword == "WORKDIR":
            workdir = str(image_path(workdir, instr.args))
        if instr.keyword != "COPY":
            continue
        flags, sources, dest = copy_parts(instr)
        if "from" in flags:
            continue
        for src in sources:
            repo_src = REPO / src
            into_dir = dest.endswith("/") or len(sources) > 1
            target = image_path(workdir, dest)
            if repo_src.is_file():
                out[target / repo_src.name if into_dir else target] = repo_src
            else:  # a directory: its contents land in dest
                for f in repo_src.rglob("*"):
                    if f.is_file():
                        out[target / f.relative_to(repo_src).as_posix()] = f
    return out


def workdir_at(stage: Stage, until: Instruction | None = None) -> str:
    workdir = "/"
    for instr in stage.instructions:
        if instr is until:
            break
        if instr.keyword == "WORKDIR":
            workdir = str(image_path(workdir, instr.args))
    return workdir


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for instr in stage.all("ENV"):
        for word in shlex.split(instr.args):
            key, _, value = word.partition("=")
            env[key] = value
    return env


# -- .dockerignore ------------------------------------------------------------------------------
def _pattern_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def dockerignore_rules(path: Path) -> list[tuple[bool, re.Pattern]]:
    """(negated, regex) per pattern, in file order; Docker cleans each pattern like a path."""
    rules = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:].strip() if negated else line
        pattern = str(PurePosixPath(pattern.strip("/")))
        rules.append((negated, _pattern_regex(pattern)))
    return rules


def ignored(rules: list[tuple[bool, re.Pattern]], rel_path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent folders decides."""
    parts = rel_path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for negated, regex in rules:
        if any(regex.match(c) for c in candidates):
            result = not negated
    return result


# -- requirements ---------------------------------------------------------------------------------
def requirement_files(path: Path) -> list[Path]:
    """The file and every file it pulls in with -r, recursively, in order."""
    out = [path]
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            out += requirement_files((path.parent / line.split(None, 1)[1]).resolve())
    return out


def requirement_names(path: Path) -> dict[str, str]:
    """normalised name -> the requirement line, over the whole -r chain."""
    names = {}
    for f in requirement_files(path):
        for line in f.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                names[normalise(re.split(r"[\[=<>!~; ]", line, maxsplit=1)[0])] = line
    return names


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# -- PromQL ---------------------------------------------------------------------------------------
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
                "unless", "offset", "inf", "nan"}


def promql_selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names matched on it) for every series selector in a PromQL expression.
    Grafana's $variables are treated like any other value."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string contents can hold anything
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range and subquery durations
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    out = []
    for m in re.finditer(r"([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?(\s*\()?", expr):
        name, braces, call = m.group(1), m.group(2), m.group(3)
        if call or name.lower() in PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]?", name):
            continue
        labels = set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", braces or ""))
        out.append((name, labels))
    return out


def promql_grouping_labels(expr: str) -> set[str]:
    labels = set()
    for m in re.finditer(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        labels |= {x.strip() for x in m.group(1).split(",") if x.strip()}
    return labels


def dependency_closure(requirements: dict[str, str]) -> set[str]:
    """Normalised names of the requirements and everything they depend on, as installed here
    (markers evaluated for this interpreter; an extra counts where a requirement names it)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [Requirement(line) for line in requirements.values()]
    while todo:
        req = todo.pop()
        name = normalise(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            dep = Requirement(line)
            extras = req.extras or {""}
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dep)
    return seen
