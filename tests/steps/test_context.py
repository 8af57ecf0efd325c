"""Steps keep what a scenario carries on its typed World, never as loose `context` attributes."""

from __future__ import annotations

import ast
from pathlib import Path

STEPS = Path(__file__).parents[2] / "steps"


def context_writes(source: str) -> list[str]:
    """`context.x = ...` (also augmented, annotated or unpacked) targets in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        for target in targets:
            for part in ast.walk(target):
                if (
                    isinstance(part, ast.Attribute)
                    and isinstance(part.value, ast.Name)
                    and part.value.id == "context"
                ):
                    found.append(f"line {part.lineno}: context.{part.attr}")
    return found


def test_the_check_sees_each_kind_of_write() -> None:
    source = "context.a = 1\ncontext.b += 1\ncontext.c: int = 1\n(context.d, x) = 1, 2\n"
    assert [w.split(": ")[1] for w in context_writes(source)] == [
        "context.a",
        "context.b",
        "context.c",
        "context.d",
    ]
    assert context_writes("world = context.world\nworld.job = 1\n") == []


def test_no_step_sets_an_attribute_on_context() -> None:
    files = sorted(STEPS.glob("*.py"))
    assert files, f"no step files in {STEPS}"
    found = {
        path.name: writes
        for path in files
        if (writes := context_writes(path.read_text(encoding="utf-8")))
    }
    assert not found, f"steps keep state on context, not on the World: {found}"
