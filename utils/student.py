"""The student edition of the chapters: solutions replaced by stubs, outputs cleared.

``python -m utils.run --student-edition DIR`` calls :func:`write_student_edition`. It is built from
nbconvert preprocessors applied in this order:

1. :class:`SolutionStubPreprocessor` replaces the code of every cell tagged ``solution`` with a
   stub;
2. ``nbconvert.preprocessors.ClearOutputPreprocessor`` removes all outputs and execution counts;
3. :class:`DropNotebookMetadataPreprocessor` removes ``metadata.course`` (the record of the
   instructor's run: its metrics would give the answers away and its source hash no longer applies).

**The stub.** Every exercise in a chapter is a solution cell followed by a check cell with
``assert`` statements. The stub is a few comments (what to write, and which names the check in the
next cell reads) followed by ``raise NotImplementedError("Exercise: ...")``, the convention of
nbgrader. This makes an unsolved exercise fail *loudly, in its own cell*: "Run All" stops at the
first stub with a message that says what is missing, instead of running the check against stale
variables of the same name defined earlier in the notebook (which could pass or fail for the wrong
reason). A student deletes the ``raise`` line when writing the solution; the unchanged check cell
then judges it. Consequently the student edition is not meant to be executed unattended (papermill
would stop at the first stub); the instructor's edition in ``chapters/`` is the one the tests run.

Cells are otherwise untouched: markdown, non-solution code, cell ids, tags and the notebook's other
metadata (kernelspec, ``course_chapter``) stay as they are.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, Preprocessor
from traitlets import List, Unicode

SOLUTION_TAG = "solution"
STUB_MESSAGE = "Exercise: write your solution in this cell, then run the check in the next cell."


def _bound_names(tree: ast.AST) -> set[str]:
    """Names a cell binds at notebook (module) level, ignoring names local to functions,
    classes, lambdas and comprehensions."""
    names: set[str] = set()

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            return
        if isinstance(
            node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
        ):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def checked_names(solution_source: str, check_source: str) -> list[str]:
    """The names a check cell reads that its solution cell defines, in order of first use.

    Args:
        solution_source: code of the cell tagged ``solution``.
        check_source: code of the check cell that follows it (may be empty).

    Returns:
        A list of identifiers; empty when either cell is not plain Python (e.g. IPython magics).

    Raises:
        TypeError: an argument is not a string.
    """
    for name, value in (("solution_source", solution_source), ("check_source", check_source)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str of cell code, got {type(value).__name__}.")
    try:
        defined = _bound_names(ast.parse(solution_source))
        check = ast.parse(check_source)
    except SyntaxError:
        return []
    local = _comprehension_names(check) | _bound_names(check)
    first: dict[str, tuple[int, int]] = {}
    for node in ast.walk(check):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id in defined
            and node.id not in local
        ):
            position = (node.lineno, node.col_offset)
            first[node.id] = min(position, first.get(node.id, position))
    return sorted(first, key=first.__getitem__)


def _comprehension_names(tree: ast.AST) -> set[str]:
    """Targets of every comprehension and lambda argument in ``tree`` (local names)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            names |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Lambda):
            names |= {a.arg for a in node.args.args}
    return names


def stub_source(solution_source: str, check_source: str = "") -> str:
    """The code that replaces a solution cell in the student edition.

    It shares no line with the solution: a comment saying what to do, the names the next cell
    checks (when they can be found), and a ``raise NotImplementedError`` that stops "Run All" at
    the unsolved exercise with a clear message.

    Args:
        solution_source: code of the solution cell being replaced.
        check_source: code of the check cell after it ("" when there is none).

    Raises:
        TypeError: an argument is not a string.
    """
    names = checked_names(solution_source, check_source)
    lines = ["# Exercise: write your solution here, then delete the `raise` line below."]
    if names:
        lines.append(
            "# The check in the next cell uses: " + ", ".join(f"`{n}`" for n in names) + "."
        )
    lines.append(f"raise NotImplementedError({STUB_MESSAGE!r})")
    return "\n".join(lines)


class SolutionStubPreprocessor(Preprocessor):
    """Replace the source of every code cell tagged :attr:`tag` with :func:`stub_source`.

    The cell keeps its id, type and metadata (tags included), so the student and instructor
    editions stay cell-for-cell comparable. Outputs are left to ``ClearOutputPreprocessor``.
    """

    tag = Unicode(SOLUTION_TAG, help="cell tag that marks a solution").tag(config=True)

    def preprocess(self, nb, resources):
        """Stub every solution cell of ``nb``; returns ``(nb, resources)``."""
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        for position, cell in enumerate(code):
            if self.tag not in cell.get("metadata", {}).get("tags", []):
                continue
            following = code[position + 1].source if position + 1 < len(code) else ""
            cell.source = stub_source(cell.source, following)
        return nb, resources


class DropNotebookMetadataPreprocessor(Preprocessor):
    """Remove the listed keys from the notebook-level metadata (default: ``course``)."""

    keys = List(Unicode(), default_value=["course"], help="metadata keys to drop").tag(config=True)

    def preprocess(self, nb, resources):
        """Drop :attr:`keys` from ``nb.metadata``; returns ``(nb, resources)``."""
        for key in self.keys:
            nb.metadata.pop(key, None)
        return nb, resources


def student_notebook(nb):
    """Return the student edition of a notebook (a new ``NotebookNode``; ``nb`` is not changed).

    Args:
        nb: a notebook as returned by ``nbformat.read(..., as_version=4)``.

    Raises:
        TypeError: ``nb`` is not an nbformat v4 notebook node.
    """
    if not isinstance(nb, nbformat.NotebookNode) or "cells" not in nb:
        raise TypeError(f"nb must be an nbformat NotebookNode, got {type(nb).__name__}.")
    result = copy.deepcopy(nb)
    resources: dict = {}
    for preprocessor in (
        SolutionStubPreprocessor(enabled=True),
        ClearOutputPreprocessor(enabled=True),
        DropNotebookMetadataPreprocessor(enabled=True),
    ):
        result, resources = preprocessor(result, resources)
    return result


def write_student_edition(notebooks, directory) -> list[Path]:
    """Write the student edition of each notebook to ``directory`` under the same file name.

    Args:
        notebooks: an iterable of paths of ``.ipynb`` files (e.g. ``utils.run.chapter_paths()``).
        directory: output folder, created if needed; it must not be the folder of a notebook
            (the instructor's edition would be overwritten).

    Returns:
        The paths written, in input order.

    Raises:
        TypeError: ``notebooks`` is a single path or a string rather than an iterable of paths.
        ValueError: no notebooks, or ``directory`` holds one of the input notebooks.
        FileNotFoundError: a notebook does not exist.
    """
    if isinstance(notebooks, (str, Path)):
        raise TypeError(
            f"notebooks must be an iterable of paths, got the single path {notebooks!r}."
        )
    notebooks = [Path(p) for p in notebooks]
    if not notebooks:
        raise ValueError("notebooks is empty; expected at least one .ipynb path.")
    directory = Path(directory)
    for path in notebooks:
        if not path.is_file():
            raise FileNotFoundError(f"no notebook at {path}")
        if directory.resolve() == path.resolve().parent:
            raise ValueError(
                f"directory {str(directory)!r} holds {path.name}; the student edition would "
                "overwrite the instructor's edition. Expected another folder."
            )
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        student = student_notebook(nbformat.read(str(path), as_version=4))
        nbformat.validate(student)
        target = directory / path.name
        nbformat.write(student, str(target))
        written.append(target)
    return written
