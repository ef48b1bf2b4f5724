"""Course conventions every chapter follows, and repeatability of a chapter under one seed.

nbval (``--nbval-lax``, collected from ``chapters/``) executes each chapter in smoke mode; these
tests check the structure instead, and that two executions give the same recorded metrics.
"""

from utils import run

import nbformat
import pytest

CHAPTERS = run.chapter_paths()


def _cells(path):
    return nbformat.read(str(path), as_version=4).cells


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_chapter_structure(chapter):
    cells = _cells(chapter)
    code = [  # a cell papermill injected for overridden knobs is not part of the chapter
        c
        for c in cells
        if c.cell_type == "code" and run.INJECTED_TAG not in c.metadata.get("tags", [])
    ]
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# Chapter ")
    assert "utils.check_environment()" in code[0].source
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert "utils.smoke_mode()" in tagged[0].source
    following = code[code.index(tagged[0]) + 1].source
    assert "utils.set_seed(" in following and "utils.show_parameters(globals())" in following
    for heading in ("## Learning objectives", "## Summary", "## References", "Exercise"):
        assert heading in text, f"missing {heading!r}"
    solutions = [i for i, c in enumerate(code) if "solution" in c.metadata.get("tags", [])]
    assert len(solutions) >= 2
    for i in solutions:  # every solution is followed by a check (utils.exercises or an assert)
        check = code[i + 1].source
        assert ".check_exercise_" in check or "assert" in check
    assert any("utils.record_metric(" in c.source for c in code)
    assert not any("import tensorflow" in c.source or "from tensorflow" in c.source for c in code)


@pytest.mark.slow
def test_chapter_01_is_repeatable_under_one_seed(tmp_path):
    chapter = next(p for p in CHAPTERS if p.name.startswith("01_"))
    first = run.execute(chapter, smoke=True, output=tmp_path / "a.ipynb", progress=False)
    second = run.execute(chapter, smoke=True, output=tmp_path / "b.ipynb", progress=False)
    assert first["metrics"] and first["metrics"] == second["metrics"]
