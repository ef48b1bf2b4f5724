"""The student edition: solutions stubbed with nbconvert preprocessors, outputs cleared."""

from utils import run, student

import ast

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

CHAPTERS = run.chapter_paths()


def _is_solution(cell):
    return cell.cell_type == "code" and "solution" in cell.metadata.get("tags", [])


def _lines(source):
    return {line.strip() for line in source.splitlines() if line.strip()}


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    assert run.main(["--student-edition", str(out)]) == 0
    return out


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_student_edition_of_each_chapter(chapter, edition):
    original = nbformat.read(str(chapter), as_version=4)
    path = edition / chapter.name
    nbformat.validate(nbformat.read(str(path), as_version=nbformat.NO_CONVERT))
    result = nbformat.read(str(path), as_version=4)
    assert len(result.cells) == len(original.cells)
    assert "course" not in result.metadata
    assert result.metadata["course_chapter"] == original.metadata["course_chapter"]
    assert result.metadata["kernelspec"] == original.metadata["kernelspec"]

    # Solution lines may survive only where the instructor's edition has them outside solutions.
    elsewhere = set().union(*(_lines(c.source) for c in original.cells if not _is_solution(c)))
    student_code = set().union(*(_lines(c.source) for c in result.cells if c.cell_type == "code"))
    solutions = [(o, r) for o, r in zip(original.cells, result.cells) if _is_solution(o)]
    assert len(solutions) >= 2
    for before, after in solutions:
        leaked = (_lines(before.source) - elsewhere) & student_code
        assert not leaked, f"solution lines survive: {sorted(leaked)}"
        assert not _lines(before.source) & _lines(after.source)
        assert _is_solution(after) and after.get("id") == before.get("id")

    for before, after in zip(original.cells, result.cells):
        assert after.cell_type == before.cell_type
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
        if not _is_solution(before):
            assert after.source == before.source
            assert after.metadata.get("tags") == before.metadata.get("tags")
            assert after.get("id") == before.get("id")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_stubs_fail_loudly_and_name_what_the_check_reads(chapter, edition):
    original = nbformat.read(str(chapter), as_version=4)
    result = nbformat.read(str(edition / chapter.name), as_version=4)
    code = [c for c in original.cells if c.cell_type == "code"]
    stubs = {c.id: c.source for c in result.cells if _is_solution(c)}
    for i, cell in enumerate(code):
        if not _is_solution(cell):
            continue
        stub = stubs[cell.id]
        with pytest.raises(NotImplementedError, match="Exercise"):
            exec(compile(stub, chapter.name, "exec"), {})
        names = student.checked_names(cell.source, code[i + 1].source)
        assert names, "each check reads something its solution defines"
        check_names = {
            n.id for n in ast.walk(ast.parse(code[i + 1].source)) if isinstance(n, ast.Name)
        }
        assert set(names) <= check_names
        assert all(f"`{name}`" in stub for name in names)


def test_checked_names_ignores_local_and_preexisting_names():
    solution = (
        "import numpy as np\nx = 1\ndef f():\n    y = 2\n    return y\n"
        "total = sum(z for z in range(3))\nfor k in range(2):\n    pass"
    )
    check = (
        "assert f() == 2 and x == 1 and np.isfinite(total)\n"
        "assert all(z >= 0 for z in [total])\nassert y_outer and k >= 0"
    )
    assert student.checked_names(solution, check) == ["f", "x", "np", "total", "k"]
    assert student.checked_names("%timeit x = 1", "assert x") == []
    with pytest.raises(TypeError, match="check_source must be a str"):
        student.checked_names("x = 1", None)


def test_student_notebook_leaves_its_input_alone():
    nb = new_notebook(
        cells=[
            new_code_cell("answer = 42", metadata={"tags": ["solution"]}, execution_count=3),
            new_code_cell("assert answer == 42"),
        ]
    )
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="hi\n")]
    nb.metadata["course"] = {"mode": "full"}
    before = nbformat.from_dict(nb)
    result = student.student_notebook(nb)
    assert nb == before
    assert result.cells[0].outputs == [] and result.cells[0].execution_count is None
    assert "answer = 42" not in result.cells[0].source and "`answer`" in result.cells[0].source
    assert result.cells[1].source == "assert answer == 42" and "course" not in result.metadata
    with pytest.raises(TypeError, match="NotebookNode"):
        student.student_notebook({"cells": []})


def test_write_student_edition_refuses_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="iterable of paths"):
        student.write_student_edition(CHAPTERS[0], tmp_path)
    with pytest.raises(ValueError, match="empty"):
        student.write_student_edition([], tmp_path)
    with pytest.raises(FileNotFoundError):
        student.write_student_edition([tmp_path / "missing.ipynb"], tmp_path / "out")
    with pytest.raises(ValueError, match="overwrite the instructor's edition"):
        student.write_student_edition(CHAPTERS[:1], CHAPTERS[0].parent)
    assert run.main(["--student-edition", str(CHAPTERS[0].parent)]) == 2
    assert run.check_committed(CHAPTERS[0]) == []
