"""What `up` found or started, persisted between `up` and `down`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Component:
    url: str = ""
    started_by_us: bool = False
    detail: dict = field(default_factory=dict)


@dataclass
class StackState:
    run_dir: Path
    components: dict[str, Component] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.run_dir / "stack.json"

    @classmethod
    def load(cls, run_dir: Path) -> "StackState":
        state = cls(run_dir=run_dir)
        if state.path.exists():
            raw = json.loads(state.path.read_text())
            state.components = {k: Component(**v) for k, v in raw.items()}
        return state

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: asdict(v) for k, v in self.components.items()}, indent=2))
        os.replace(tmp, self.path)

    def write_env(self, values: dict[str, str]) -> Path:
        """data/run/stack.env: the addresses services must use (read by CommonSettings)."""
        env_path = self.run_dir / "stack.env"
        lines = ["# written by `make up`; the addresses of the infrastructure it found or started"]
        lines += [f"{k}={v}" for k, v in sorted(values.items())]
        tmp = env_path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, env_path)
        return env_path
