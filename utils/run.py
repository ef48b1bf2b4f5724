"""The course runner: execute chapters with papermill and record what the run measured.

Usage::

    python -m utils.run                                  # every chapter, full mode, in place
    python -m utils.run --smoke chapters/01_autoencoders.ipynb
    python -m utils.run -p EPOCHS 3 --output-dir /tmp/out chapters/01_autoencoders.ipynb
    python -m utils.run --check                          # only verify the committed outputs

Each executed notebook gets ``metadata.course`` with these keys (other tools read them; keep them
stable):

- ``mode``: ``"full"`` or ``"smoke"``;
- ``parameters``: the budget knobs the run used (published by ``utils.show_parameters``);
- ``duration_s``: wall time of the execution in seconds;
- ``versions``: ``{"python", "keras", "backend", "backend_version"}`` as the kernel saw them;
- ``source_sha256``: :func:`source_hash` of the code cells (stale outputs are detected with it);
- ``metrics``: ``{name: {"value": float, "unit": str}}`` from ``utils.record_metric`` calls;
- ``executed_at``: UTC time stamp (ISO 8601) of the end of the run.

The kernel runs with ``cwd`` set to the notebook's folder, ``COURSE_SMOKE`` set by ``--smoke`` and
matplotlib's inline backend, so committed notebooks carry their figures.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import hashlib
import os
import sys
import time
from pathlib import Path

from .runtime import ENVIRONMENT_MIME, METRIC_MIME, PARAMETERS_MIME

CHAPTERS_DIR = Path(__file__).resolve().parent.parent / "chapters"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
INJECTED_TAG = "injected-parameters"


def chapter_paths(directory: Path | None = None) -> list[Path]:
    """All chapter notebooks ``NN_topic.ipynb`` in ``chapters/``, in chapter order."""
    directory = CHAPTERS_DIR if directory is None else Path(directory)
    return sorted(p for p in directory.glob("[0-9][0-9]_*.ipynb"))


def source_hash(nb) -> str:
    """SHA-256 (hex) of a notebook's code, for detecting outputs that no longer match the code.

    It hashes the source of every code cell in order, leaving out the cell papermill injects for
    overridden parameters (tag ``injected-parameters``). Markdown edits do not change it.

    Args:
        nb: a notebook as returned by ``nbformat.read`` (or a dict of the same layout).
    """
    digest = hashlib.sha256()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        if INJECTED_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        source = cell["source"]
        if isinstance(source, list):
            source = "".join(source)
        digest.update(source.strip().encode("utf-8"))
        digest.update(b"\n\x1e\n")  # record separator between cells
    return digest.hexdigest()


def collect_outputs(nb) -> dict:
    """Gather what the notebook published through ``utils.runtime``: metrics, parameters, versions.

    Returns:
        ``{"metrics": {...}, "parameters": {...}, "versions": {...}}`` (later records win).
    """
    metrics, parameters, versions = {}, {}, {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if METRIC_MIME in data:
                record = dict(data[METRIC_MIME])
                name = record.pop("name")
                metrics[name] = {"value": float(record["value"]), "unit": record["unit"]}
            if PARAMETERS_MIME in data:
                parameters.update(data[PARAMETERS_MIME])
            if ENVIRONMENT_MIME in data:
                env = data[ENVIRONMENT_MIME]
                versions = {k: env[k] for k in ("python", "keras", "backend", "backend_version") if k in env}
    return {"metrics": metrics, "parameters": parameters, "versions": versions}


def _strip_cell_noise(nb) -> None:
    """Drop per-cell execution time stamps so re-runs do not churn the diff."""
    for cell in nb["cells"]:
        meta = cell.get("metadata", {})
        meta.pop("execution", None)
        meta.pop("papermill", None)


def execute(notebook, *, smoke=False, parameters=None, output=None, timeout=1800, progress=True):
    """Execute one notebook with papermill and write ``metadata.course``.

    Args:
        notebook: path of the ``.ipynb`` to run.
        smoke: run in smoke mode (``COURSE_SMOKE=1`` in the kernel's environment).
        parameters: ``{name: value}`` overriding knobs of the cell tagged ``parameters``.
        output: where to write the executed notebook (default: in place).
        timeout: per-cell time limit in seconds.
        progress: show papermill's progress bar.

    Returns:
        The ``metadata.course`` dict that was written.

    Raises:
        FileNotFoundError: the notebook does not exist.
        ValueError: a bad timeout.
        papermill.PapermillExecutionError: a cell raised; the partly executed notebook is written
            to ``output`` so the error can be read there.
    """
    import nbformat
    import papermill

    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"no notebook at {notebook}")
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    output = Path(output) if output is not None else notebook
    output.parent.mkdir(parents=True, exist_ok=True)

    saved = {k: os.environ.get(k) for k in ("COURSE_SMOKE", "MPLBACKEND")}
    os.environ["COURSE_SMOKE"] = "1" if smoke else "0"
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=dict(parameters or {}),
            cwd=str(notebook.resolve().parent),
            execution_timeout=timeout,
            progress_bar=progress,
            log_output=False,
            kernel_name="python3",
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    duration = time.perf_counter() - start

    nb = nbformat.read(str(output), as_version=4)
    found = collect_outputs(nb)
    course = {
        "mode": "smoke" if smoke else "full",
        "parameters": found["parameters"],
        "duration_s": round(duration, 1),
        "versions": found["versions"],
        "source_sha256": source_hash(nb),
        "metrics": found["metrics"],
        "executed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    nb.metadata["course"] = course
    nb.metadata.pop("papermill", None)
    _strip_cell_noise(nb)
    nbformat.write(nb, str(output))
    return course


def check_committed(notebook) -> list[str]:
    """Problems with a committed chapter's outputs; an empty list means it is up to date.

    A committed chapter must carry the outputs of a *full-mode* run made by this runner, whose
    recorded ``source_sha256`` equals the hash of its current code cells, with every code cell
    executed, no error output, and at least one recorded metric.
    """
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    name = Path(notebook).name
    course = nb.metadata.get("course")
    if not course:
        return [f"{name}: no metadata.course; run `python -m utils.run chapters/{name}`."]
    problems = []
    missing = [k for k in ("mode", "parameters", "duration_s", "versions", "source_sha256", "metrics")
               if k not in course]
    if missing:
        problems.append(f"{name}: metadata.course lacks {missing}.")
    if course.get("mode") != "full":
        problems.append(f"{name}: committed outputs come from a {course.get('mode')!r} run, not 'full'.")
    if course.get("source_sha256") != source_hash(nb):
        problems.append(
            f"{name}: code changed since the recorded run (stale outputs); re-run "
            f"`python -m utils.run chapters/{name}`."
        )
    if not course.get("metrics"):
        problems.append(f"{name}: no headline metric recorded (utils.record_metric).")
    code = [c for c in nb.cells if c.cell_type == "code"]
    if any(c.get("execution_count") is None for c in code if c.source.strip()):
        problems.append(f"{name}: some code cells were not executed.")
    if any(o.get("output_type") == "error" for c in code for o in c.get("outputs", [])):
        problems.append(f"{name}: a cell shows an error output.")
    return problems


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _summary(rows) -> str:
    lines = [f"{'chapter':<42} {'mode':<6} {'minutes':>7}  headline metrics", "-" * 100]
    for path, course in rows:
        if course is None:
            lines.append(f"{path.name:<42} {'-':<6} {'-':>7}  FAILED")
            continue
        metrics = ", ".join(f"{k}={v['value']:.4g} {v['unit']}" for k, v in course["metrics"].items())
        lines.append(f"{path.name:<42} {course['mode']:<6} {course['duration_s'] / 60:>7.2f}  {metrics}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.run", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapters to run (default: all)")
    parser.add_argument("--smoke", action="store_true", help="smoke mode (COURSE_SMOKE=1)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                        default=[], help="override a knob of the parameters cell (Python literal)")
    parser.add_argument("--output-dir", type=Path, help="write executed notebooks here, not in place")
    parser.add_argument("--timeout", type=float, default=1800, help="per-cell limit in seconds")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--check", action="store_true",
                        help="do not execute; check that committed outputs are full-mode and current")
    args = parser.parse_args(argv)

    notebooks = args.notebooks or chapter_paths()
    if not notebooks:
        print("no notebooks found", file=sys.stderr)
        return 2
    if args.check:
        problems = [p for nb in notebooks for p in check_committed(nb)]
        print("\n".join(problems) if problems else f"{len(notebooks)} notebook(s) up to date.")
        return 1 if problems else 0

    parameters = {name: _parse_value(value) for name, value in args.parameter}
    rows, failed = [], False
    for path in notebooks:
        output = args.output_dir / path.name if args.output_dir else None
        print(f"== {path} ({'smoke' if args.smoke else 'full'} mode)", flush=True)
        try:
            course = execute(path, smoke=args.smoke, parameters=parameters, output=output,
                             timeout=args.timeout, progress=not args.no_progress)
        except Exception as error:  # report and go on with the other chapters
            print(f"!! {path} failed: {type(error).__name__}: {error}", file=sys.stderr)
            rows.append((path, None))
            failed = True
            continue
        rows.append((path, course))
    print()
    print(_summary(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
