"""Compile the committed example skills (skills/*) with the embedded local model.

    .venv/bin/python examples/build_example_skills.py [NAME ...]

Each uses its task's fixed train and dev splits (examples/tasks.py); the test split stays unseen.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.tasks import ROOT, TASKS
from skillforge import compile_skill


def main(names: list[str]) -> None:
    for name in names or list(TASKS):
        task = TASKS[name]()
        train, dev, _test = task.splits()
        skill = compile_skill(task.spec, train, dev_examples=dev, teacher="local:smollm2-135m",
                              student="local:smollm2-135m")
        path = skill.save(ROOT / "skills" / name)
        print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
