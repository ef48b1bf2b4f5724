"""The course runner: execute chapters with papermill and record what the run measured.

Usage::

    python -m utils.run                                  # every chapter, full mode, in place
    python -m utils.run --smoke chapters/01_autoencoders.ipynb
    python -m utils.run -p EPOCHS 3 --output-dir /tmp/out chapters/01_autoencoders.ipynb
    python -m utils.run --check                          # only verify the committed outputs
    python -m utils.run --backend jax --smoke --output-dir /tmp/jax   # another Keras backend
    python -m utils.run --readme-table                   # print the README's chapter table
    python -m utils.run --update-readme                  # rewrite that table in README.md
    python -m utils.run --write-readme                   # run every chapter, then rewrite it
    python -m utils.run --student-edition /tmp/student   # solutions stubbed, outputs cleared

Each executed notebook gets ``metadata.course`` with these keys (other tools read them; keep them
stable):

- ``mode``: ``"full"`` or ``"smoke"``;
- ``parameters``: the budget knobs the run used (published by ``utils.show_parameters``);
- ``duration_s``: wall time of the execution in seconds;
- ``versions``: ``{"python", "keras", "backend", "backend_version"}`` as the kernel saw them;
- ``source_sha256``: :func:`source_hash` of the code cells (stale outputs are detected with it);
- ``metrics``: ``{name: {"value": float, "unit": str}}`` from ``utils.record_metric`` calls (plus
  ``"reference"`` where the call gave one);
- ``executed_at``: UTC time stamp (ISO 8601) of the end of the run;
- ``backend``: the Keras backend the kernel reported (``versions["backend"]``), or the requested
  one (``--backend``) when the notebook did not report it.

The README's chapter table is generated from the committed notebooks (:func:`readme_table`): the
minutes from ``metadata.course.duration_s``, the numbers from ``metadata.course.metrics``, and the
prose from ``metadata.course_chapter`` = ``{"family", "summary", "headline"}``, where ``headline``
is a template such as ``"FID {fid_dcgan:.1f}"`` (see :func:`render_headline`). Chapters without a
notebook yet are listed in :data:`PLANNED_CHAPTERS`. :func:`chapter_metrics` and
:func:`chapter_metric` give other chapters (and tools) the committed numbers of a chapter.

The kernel runs with ``cwd`` set to the notebook's folder, ``COURSE_SMOKE`` set by ``--smoke`` and
matplotlib's inline backend, so committed notebooks carry their figures.
"""

from __future__ import annotations

import argparse
import ast
import copy
import datetime
import decimal
import hashlib
import os
import re
import string
import sys
import time
import warnings
from pathlib import Path

from .runtime import ENVIRONMENT_MIME, METRIC_MIME, PARAMETERS_MIME

REPO_ROOT = Path(__file__).resolve().parent.parent
CHAPTERS_DIR = REPO_ROOT / "chapters"
README_PATH = REPO_ROOT / "README.md"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
INJECTED_TAG = "injected-parameters"

BACKEND_ENV = "KERAS_BACKEND"
BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "tensorflow"

CHAPTER_INFO_KEY = "course_chapter"
CHAPTER_INFO_FIELDS = ("family", "summary", "headline")
TABLE_START = "<!-- chapter-table:start -->"
TABLE_END = "<!-- chapter-table:end -->"
TABLE_HEADER = (
    "| file | family | what you learn | full-mode CPU minutes | headline metric (MNIST test) |\n"
    "|---|---|---|---|---|"
)

#: Chapters announced in the README that have no notebook yet: ``{stem: {"family", "summary"}}``.
#: A notebook ``chapters/<NN>_*.ipynb`` replaces the planned row of the same number.
PLANNED_CHAPTERS: dict = {}  # e.g. {"09_topic": {"family": "...", "summary": "..."}}


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
                if record.get("reference"):
                    metrics[name]["reference"] = str(record["reference"])
            if PARAMETERS_MIME in data:
                parameters.update(data[PARAMETERS_MIME])
            if ENVIRONMENT_MIME in data:
                env = data[ENVIRONMENT_MIME]
                versions = {
                    k: env[k] for k in ("python", "keras", "backend", "backend_version") if k in env
                }
    return {"metrics": metrics, "parameters": parameters, "versions": versions}


def _strip_cell_noise(nb) -> None:
    """Drop per-cell execution time stamps so re-runs do not churn the diff."""
    for cell in nb["cells"]:
        meta = cell.get("metadata", {})
        meta.pop("execution", None)
        meta.pop("papermill", None)


def default_backend() -> str:
    """The Keras backend a run uses when none is requested: ``$KERAS_BACKEND`` or tensorflow."""
    return os.environ.get(BACKEND_ENV, "").strip().lower() or DEFAULT_BACKEND


def check_backend(backend) -> str:
    """Return ``backend`` if it names a Keras backend the course runs on; raise otherwise.

    Raises:
        TypeError: ``backend`` is not a string.
        ValueError: it is not one of :data:`BACKENDS`.
    """
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a str, one of {BACKENDS}; got {type(backend).__name__}.")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}.")
    return backend


def execute(
    notebook,
    *,
    smoke=False,
    parameters=None,
    output=None,
    timeout=1800,
    progress=True,
    backend=None,
):
    """Execute one notebook with papermill and write ``metadata.course``.

    Args:
        notebook: path of the ``.ipynb`` to run.
        smoke: run in smoke mode (``COURSE_SMOKE=1`` in the kernel's environment).
        parameters: ``{name: value}`` overriding knobs of the cell tagged ``parameters``.
        output: where to write the executed notebook (default: in place).
        timeout: per-cell time limit in seconds.
        progress: show papermill's progress bar.
        backend: Keras backend of the kernel, one of :data:`BACKENDS` (default:
            :func:`default_backend`). The kernel inherits this process's environment, so
            ``KERAS_BACKEND`` is set for the duration of the run and restored afterwards.

    Returns:
        The ``metadata.course`` dict that was written. Its ``backend`` is what the kernel reported
        through ``utils.check_environment`` (the requested backend when it reported nothing); a
        ``RuntimeWarning`` is issued when the two differ.

    Raises:
        FileNotFoundError: the notebook does not exist.
        ValueError: a bad timeout or backend.
        TypeError: a backend that is not a string.
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
    requested = check_backend(default_backend() if backend is None else backend)
    output = Path(output) if output is not None else notebook
    output.parent.mkdir(parents=True, exist_ok=True)

    saved = {k: os.environ.get(k) for k in ("COURSE_SMOKE", "MPLBACKEND", BACKEND_ENV)}
    os.environ["COURSE_SMOKE"] = "1" if smoke else "0"
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    os.environ[BACKEND_ENV] = requested
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
        "backend": found["versions"].get("backend") or requested,
    }
    if course["backend"] != requested:
        warnings.warn(
            f"{notebook.name}: requested Keras backend {requested!r}, but the kernel "
            f"reported {course['backend']!r}.",
            RuntimeWarning,
            stacklevel=2,
        )
    nb.metadata["course"] = course
    nb.metadata.pop("papermill", None)
    _drop_run_only_overrides(nb)
    _strip_cell_noise(nb)
    nbformat.write(nb, str(output))
    return course


RUN_ONLY_PARAMETERS = ("SAVE_PRETRAINED",)


def _drop_run_only_overrides(nb) -> None:
    """Remove the injected parameters cell when it only sets run-only knobs (SAVE_PRETRAINED):
    the run is recorded in ``metadata.course.parameters``, and a reader who re-runs the notebook
    must not overwrite the committed models."""
    for cell in list(nb.cells):
        if INJECTED_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        names = re.findall(r"^([A-Za-z_]\w*)\s*=", cell.source, flags=re.M)
        if names and set(names) <= set(RUN_ONLY_PARAMETERS):
            nb.cells.remove(cell)


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
    missing = [
        k
        for k in ("mode", "parameters", "duration_s", "versions", "source_sha256", "metrics")
        if k not in course
    ]
    if missing:
        problems.append(f"{name}: metadata.course lacks {missing}.")
    if course.get("mode") != "full":
        problems.append(
            f"{name}: committed outputs come from a {course.get('mode')!r} run, not 'full'."
        )
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
    for cell in code:
        if INJECTED_TAG in cell.metadata.get("tags", []) and any(
            re.search(rf"^{knob}\s*=\s*True", cell.source, flags=re.M)
            for knob in RUN_ONLY_PARAMETERS
        ):
            problems.append(
                f"{name}: an injected parameters cell sets a run-only knob "
                f"({cell.source.strip()!r}); a reader's re-run would overwrite models/. Remove "
                "that cell."
            )
    return problems


# --------------------------------------------------------------------------------------------
# Committed numbers of a chapter, for other chapters and tools
# --------------------------------------------------------------------------------------------

_COURSE_CACHE: dict[str, tuple[tuple[int, int], dict]] = {}


def resolve_chapter(chapter, directory=None) -> Path:
    """Find a chapter's notebook from a short name.

    Args:
        chapter: ``"05"`` (or the int ``5``), ``"05_autoregressive_pixelcnn"`` (with or without
            ``.ipynb``), or the path of a notebook file.
        directory: where chapters live (default: the course's ``chapters/``).

    Returns:
        The notebook's path.

    Raises:
        TypeError: ``chapter`` is not a str, int or path.
        ValueError: no such chapter (a planned chapter without a notebook says so).
    """
    directory = CHAPTERS_DIR if directory is None else Path(directory)
    if isinstance(chapter, bool) or not isinstance(chapter, (str, int, os.PathLike)):
        raise TypeError(
            f"chapter must be a str such as '05' or '05_autoregressive_pixelcnn', an int or a "
            f"path; got {type(chapter).__name__}."
        )
    if isinstance(chapter, int):
        if not 0 <= chapter <= 99:
            raise ValueError(f"chapter number must be in 0..99, got {chapter}.")
        chapter = f"{chapter:02d}"
    path = Path(chapter)
    if isinstance(chapter, os.PathLike) or len(path.parts) > 1:
        if path.suffix == ".ipynb" and path.is_file():
            return path
        raise ValueError(f"chapter {str(chapter)!r} is not a notebook file (.ipynb).")
    name = path.name[: -len(".ipynb")] if path.name.endswith(".ipynb") else path.name
    match = re.fullmatch(r"(\d{2})(_\w+)?", name)
    if match is None:
        raise ValueError(
            f"chapter must look like '05', '05_topic' or a notebook path, got {str(chapter)!r}."
        )
    found = [
        p
        for p in chapter_paths(directory)
        if p.stem == name or (match.group(2) is None and p.stem[:2] == name)
    ]
    if len(found) == 1:
        return found[0]
    planned = [stem for stem in PLANNED_CHAPTERS if stem == name or stem[:2] == name]
    if planned and not found:
        raise ValueError(f"chapter {planned[0]} is planned and has no notebook yet.")
    if len(found) > 1:
        raise ValueError(
            f"chapter {str(chapter)!r} is ambiguous in {directory}: "
            f"{', '.join(p.name for p in found)}."
        )
    available = ", ".join(p.stem for p in chapter_paths(directory)) or "none"
    raise ValueError(f"no chapter {str(chapter)!r} in {directory}; expected one of: {available}.")


def _committed_course(path: Path) -> dict:
    """``metadata.course`` of a notebook file, cached until the file changes."""
    import nbformat

    stat = path.stat()
    key, stamp = str(path.resolve()), (stat.st_mtime_ns, stat.st_size)
    cached = _COURSE_CACHE.get(key)
    if cached is None or cached[0] != stamp:
        nb = nbformat.read(str(path), as_version=4)
        cached = (stamp, dict(nb.metadata.get("course") or {}))
        _COURSE_CACHE[key] = cached
    return copy.deepcopy(cached[1])


def chapter_metrics(chapter, *, directory=None) -> dict:
    """The metrics recorded by the committed full-mode run of a chapter.

    Use it to quote another chapter's numbers without copying them by hand, e.g.
    ``utils.chapter_metric("05", "pixelcnn_test_nll")`` in a comparison table.

    Args:
        chapter: see :func:`resolve_chapter` (``"05"``, ``"05_autoregressive_pixelcnn"``, a path).
        directory: where chapters live (default: the course's ``chapters/``).

    Returns:
        ``{name: {"value": float, "unit": str, ...}}`` as stored in ``metadata.course.metrics``
        (a copy; changing it changes nothing on disk).

    Raises:
        TypeError, ValueError: an unknown chapter (see :func:`resolve_chapter`); a notebook never
            run by ``python -m utils.run``, run in smoke mode, or with no recorded metric.
    """
    path, course = _full_course(chapter, directory)
    if not course.get("metrics"):
        raise ValueError(f"{path.name} recorded no metric (utils.record_metric).")
    return course["metrics"]


def _full_course(chapter, directory):
    path = resolve_chapter(chapter, directory)
    course = _committed_course(path)
    if not course:
        raise ValueError(f"{path.name} has no metadata.course; run `python -m utils.run {path}`.")
    if course.get("mode") != "full":
        raise ValueError(
            f"{path.name} carries a {course.get('mode')!r} run, not a full-mode one; its numbers "
            f"are not results. Run `python -m utils.run {path}`."
        )
    return path, course


def chapter_parameter(chapter, name, *, directory=None):
    """A budget knob of a chapter's committed full-mode run (``metadata.course.parameters``),
    e.g. ``chapter_parameter("06", "GIBBS_STEPS")``: so that another chapter samples a model the
    way its own chapter did without copying the setting.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: the chapter has no such knob (the message lists them), or any error of
            :func:`chapter_metrics` about the chapter's run.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a knob name (str), got {type(name).__name__}.")
    path, course = _full_course(chapter, directory)
    parameters = course.get("parameters") or {}
    if name not in parameters:
        raise ValueError(
            f"chapter {path.stem} has no parameter {name!r}; expected one of: "
            f"{', '.join(sorted(parameters))}."
        )
    return parameters[name]


def chapter_metric(chapter, name, *, directory=None) -> float:
    """The value of one metric recorded by a chapter's committed full-mode run.

    Args:
        chapter: see :func:`resolve_chapter`.
        name: the metric's name as passed to ``utils.record_metric``, e.g. ``"vae_test_nll"``.
        directory: where chapters live (default: the course's ``chapters/``).

    Returns:
        The value as a float (its unit is in :func:`chapter_metrics`).

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: the chapter has no such metric (the message lists those it has), or any error
            of :func:`chapter_metrics`.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a metric name (str), got {type(name).__name__}.")
    metrics = chapter_metrics(chapter, directory=directory)
    if name not in metrics:
        stem = resolve_chapter(chapter, directory).stem
        raise ValueError(
            f"chapter {stem} has no metric {name!r}; expected one of: {', '.join(sorted(metrics))}."
        )
    return float(metrics[name]["value"])


# --------------------------------------------------------------------------------------------
# The README's chapter table, generated from the notebooks' metadata
# --------------------------------------------------------------------------------------------

_FIELD_ROOT = re.compile(r"[^.\[]+")
_TEMPLATE_NAMESPACES = ("parameters", "unit")


def render_headline(template, course, *, chapter="chapter") -> str:
    """Fill a headline template with the numbers of a run.

    The template is a ``str.format`` string. Its fields may name

    - a recorded metric, which stands for its value: ``{fid_dcgan:.1f}``;
    - ``parameters[KNOB]``, a knob of the run: ``N={parameters[N_EVAL]:,}``;
    - ``unit[metric]``, the unit a metric was recorded with.

    Args:
        template: the ``headline`` of ``metadata.course_chapter``.
        course: the notebook's ``metadata.course`` (needs ``metrics``; ``parameters`` optional).
        chapter: name used in error messages.

    Returns:
        The filled text.

    Raises:
        TypeError: ``template`` is not a str or ``course`` not a dict.
        ValueError: a field names no recorded metric or knob, or its format spec does not apply.
    """
    if not isinstance(template, str):
        raise TypeError(
            f"{chapter}: headline must be a str template, got {type(template).__name__}."
        )
    if not isinstance(course, dict):
        raise TypeError(
            f"{chapter}: course must be the metadata.course dict, got {type(course).__name__}."
        )
    metrics = course.get("metrics") or {}
    namespace = {name: float(record["value"]) for name, record in metrics.items()}
    namespace["parameters"] = dict(course.get("parameters") or {})
    namespace["unit"] = {name: record.get("unit", "") for name, record in metrics.items()}
    try:
        fields = [
            field for _, field, _, _ in string.Formatter().parse(template) if field is not None
        ]
    except ValueError as error:
        raise ValueError(f"{chapter}: malformed headline template {template!r}: {error}") from None
    for field in fields:
        match = _FIELD_ROOT.match(field)
        root = match.group() if match else field
        if root not in namespace:
            raise ValueError(
                f"{chapter}: headline field {{{field}}} names no recorded metric; expected one of "
                f"{sorted(metrics)} or {list(_TEMPLATE_NAMESPACES)}."
            )
    try:
        return template.format_map(namespace)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as error:
        raise ValueError(
            f"{chapter}: cannot fill headline template {template!r}: "
            f"{type(error).__name__}: {error}"
        ) from None


def check_chapter_info(info, *, chapter="chapter") -> dict:
    """Validate a ``metadata.course_chapter`` dict and return it.

    Raises:
        TypeError: ``info`` is not a dict, or a field is not a string.
        ValueError: a field is missing or empty, or holds a line break (it is one table cell).
    """
    if not isinstance(info, dict):
        raise TypeError(
            f"{chapter}: metadata.{CHAPTER_INFO_KEY} must be a dict with keys "
            f"{CHAPTER_INFO_FIELDS}, got {type(info).__name__}."
        )
    for field in CHAPTER_INFO_FIELDS:
        value = info.get(field)
        if value is None:
            raise ValueError(
                f"{chapter}: metadata.{CHAPTER_INFO_KEY} lacks {field!r}; expected "
                f"keys {CHAPTER_INFO_FIELDS}."
            )
        if not isinstance(value, str):
            raise TypeError(
                f"{chapter}: metadata.{CHAPTER_INFO_KEY}.{field} must be a str, got "
                f"{type(value).__name__}."
            )
        if not value.strip() or "\n" in value:
            raise ValueError(
                f"{chapter}: metadata.{CHAPTER_INFO_KEY}.{field} must be one "
                f"non-empty line, got {value!r}."
            )
    return info


def write_chapter_info(notebook, *, family, summary, headline) -> dict:
    """Store a chapter's README prose in its ``metadata.course_chapter`` (nothing else changes).

    The headline is checked against the notebook's recorded metrics before anything is written.

    Args:
        notebook: path of the chapter notebook (it must carry ``metadata.course``).
        family: the model family, e.g. ``"VAE"``.
        summary: what the chapter teaches, one line of Markdown.
        headline: template of the headline metric (see :func:`render_headline`).

    Returns:
        The ``course_chapter`` dict written.

    Raises:
        FileNotFoundError: no such notebook.
        TypeError, ValueError: see :func:`check_chapter_info` and :func:`render_headline`.
    """
    import nbformat

    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"no notebook at {notebook}")
    info = check_chapter_info(
        {"family": family, "summary": summary, "headline": headline}, chapter=notebook.name
    )
    nb = nbformat.read(str(notebook), as_version=4)
    render_headline(headline, dict(nb.metadata.get("course") or {}), chapter=notebook.name)
    nb.metadata[CHAPTER_INFO_KEY] = info
    nbformat.write(nb, str(notebook))
    return info


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _minutes(duration_s) -> str:
    """Minutes with one decimal, rounding halves up as people do (1155 s -> 19.3)."""
    minutes = decimal.Decimal(str(duration_s)) / 60
    return str(minutes.quantize(decimal.Decimal("0.1"), rounding=decimal.ROUND_HALF_UP))


def chapter_row(notebook) -> str:
    """The README table row of a chapter notebook, built from its committed metadata.

    Raises:
        FileNotFoundError: no such notebook.
        TypeError, ValueError: missing or malformed ``metadata.course_chapter``, a notebook with
            no full-mode run, or a headline the recorded metrics cannot fill.
    """
    import nbformat

    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"no notebook at {notebook}")
    nb = nbformat.read(str(notebook), as_version=4)
    name = notebook.name
    if CHAPTER_INFO_KEY not in nb.metadata:
        raise ValueError(
            f"{name}: no metadata.{CHAPTER_INFO_KEY}; add it with "
            "utils.run.write_chapter_info(...)."
        )
    info = check_chapter_info(dict(nb.metadata[CHAPTER_INFO_KEY]), chapter=name)
    course = dict(nb.metadata.get("course") or {})
    if course.get("mode") != "full" or "duration_s" not in course:
        raise ValueError(
            f"{name}: the README table needs the outputs of a full-mode run; run "
            f"`python -m utils.run chapters/{name}`."
        )
    cells = [
        f"[{notebook.stem}](chapters/{name})",
        _cell(info["family"]),
        _cell(info["summary"]),
        _minutes(course["duration_s"]),
        _cell(render_headline(info["headline"], course, chapter=name)),
    ]
    return "| " + " | ".join(cells) + " |"


def readme_table(directory=None) -> str:
    """The README's chapter table (Markdown, no trailing newline), notebooks and planned rows.

    Args:
        directory: where chapters live (default: the course's ``chapters/``).

    Raises:
        ValueError: a chapter cannot fill its row (see :func:`chapter_row`).
    """
    rows = {path.stem[:2]: chapter_row(path) for path in chapter_paths(directory)}
    for stem, info in PLANNED_CHAPTERS.items():
        rows.setdefault(
            stem[:2],
            f"| {stem} | {_cell(info['family'])} | {_cell(info['summary'])} | — | planned |",
        )
    return "\n".join([TABLE_HEADER] + [rows[number] for number in sorted(rows)])


def _split_readme(text: str, path) -> tuple[str, str, str]:
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(
            f"{path}: expected the markers {TABLE_START} ... {TABLE_END} in this order."
        )
    head = text[: start + len(TABLE_START)]
    return head, text[len(head) : end], text[end:]


def readme_block(readme=None) -> str:
    """The chapter table currently in the README (between the markers, stripped).

    Raises:
        FileNotFoundError: no README at ``readme``.
        ValueError: the markers are missing.
    """
    readme = README_PATH if readme is None else Path(readme)
    return _split_readme(readme.read_text(encoding="utf-8"), readme)[1].strip()


def update_readme(readme=None, table=None) -> bool:
    """Rewrite the chapter table between the README's markers.

    Args:
        readme: the README file (default: the course's ``README.md``).
        table: the table to write (default: :func:`readme_table`).

    Returns:
        True when the file changed.

    Raises:
        FileNotFoundError: no README; ValueError: markers missing (see :func:`readme_block`).
        TypeError: ``table`` is not a str.
    """
    readme = README_PATH if readme is None else Path(readme)
    table = readme_table() if table is None else table
    if not isinstance(table, str):
        raise TypeError(f"table must be a Markdown str, got {type(table).__name__}.")
    text = readme.read_text(encoding="utf-8")
    head, _, tail = _split_readme(text, readme)
    updated = f"{head}\n{table.strip()}\n{tail}"
    if updated == text:
        return False
    readme.write_text(updated, encoding="utf-8")
    return True


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _summary(rows) -> str:
    lines = [
        f"{'chapter':<42} {'mode':<6} {'backend':<10} {'minutes':>7}  headline metrics",
        "-" * 100,
    ]
    for path, course in rows:
        if course is None:
            lines.append(f"{path.name:<42} {'-':<6} {'-':<10} {'-':>7}  FAILED")
            continue
        metrics = ", ".join(
            f"{k}={v['value']:.4g} {v['unit']}" for k, v in course["metrics"].items()
        )
        lines.append(
            f"{path.name:<42} {course['mode']:<6} {course.get('backend', '-'):<10} "
            f"{course['duration_s'] / 60:>7.2f}  {metrics}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    """The command line ``python -m utils.run`` (see the module docstring); returns the exit code:
    0 on success, 1 when a chapter failed or a check/table found problems, 2 on bad usage."""
    parser = argparse.ArgumentParser(prog="python -m utils.run", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapters to run (default: all)")
    parser.add_argument("--smoke", action="store_true", help="smoke mode (COURSE_SMOKE=1)")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        default=[],
        help="override a knob of the parameters cell (Python literal)",
    )
    parser.add_argument(
        "--output-dir", type=Path, help="write executed notebooks here, not in place"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="per-cell limit in seconds")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help=f"Keras backend of the kernels (default: $KERAS_BACKEND or {DEFAULT_BACKEND})",
    )
    parser.add_argument(
        "--write-readme",
        action="store_true",
        help="after a full-mode run in place, rewrite the README's chapter table from the "
        "notebooks (as --update-readme does)",
    )
    tasks = parser.add_mutually_exclusive_group()
    tasks.add_argument(
        "--check",
        action="store_true",
        help="do not execute; check that committed outputs are full-mode and current",
    )
    tasks.add_argument(
        "--readme-table",
        action="store_true",
        help="do not execute; print the README chapter table built from the "
        "committed notebooks' metadata",
    )
    tasks.add_argument(
        "--update-readme",
        action="store_true",
        help="do not execute; rewrite the chapter table in README.md",
    )
    tasks.add_argument(
        "--student-edition",
        type=Path,
        metavar="DIR",
        help="do not execute; write the chapters to DIR with solutions replaced by "
        "stubs and outputs cleared",
    )
    args = parser.parse_args(argv)
    tasks_given = args.check or args.readme_table or args.update_readme or args.student_edition
    if args.write_readme and (args.smoke or args.output_dir or tasks_given):
        parser.error(
            "--write-readme needs a full-mode run in place: no --smoke, --output-dir, --check, "
            "--readme-table, --update-readme or --student-edition (the README's table describes "
            "the committed notebooks)."
        )

    if args.readme_table or args.update_readme:
        if args.notebooks:
            parser.error(
                "--readme-table and --update-readme cover all chapters; give no notebooks."
            )
        try:
            table = readme_table()
        except (TypeError, ValueError) as error:
            print(f"cannot build the chapter table: {error}", file=sys.stderr)
            return 1
        if args.readme_table:
            print(table)
        else:
            changed = update_readme(table=table)
            print(
                f"{README_PATH.name}: chapter table "
                f"{'updated' if changed else 'already up to date'}."
            )
        return 0
    notebooks = args.notebooks or chapter_paths()
    if not notebooks:
        print("no notebooks found", file=sys.stderr)
        return 2
    if args.check:
        problems = [p for nb in notebooks for p in check_committed(nb)]
        print("\n".join(problems) if problems else f"{len(notebooks)} notebook(s) up to date.")
        return 1 if problems else 0
    if args.student_edition is not None:
        from .student import write_student_edition

        try:
            written = write_student_edition(notebooks, args.student_edition)
        except (ValueError, FileNotFoundError) as error:
            print(f"student edition not written: {error}", file=sys.stderr)
            return 2
        print(f"student edition of {len(written)} notebook(s) written to {args.student_edition}")
        return 0
    try:
        backend = check_backend(args.backend or default_backend())
    except ValueError as error:
        parser.error(f"{error} (from ${BACKEND_ENV}; choose one with --backend)")

    parameters = {name: _parse_value(value) for name, value in args.parameter}
    rows, failed = [], False
    for path in notebooks:
        output = args.output_dir / path.name if args.output_dir else None
        print(f"== {path} ({'smoke' if args.smoke else 'full'} mode, {backend})", flush=True)
        try:
            course = execute(
                path,
                smoke=args.smoke,
                parameters=parameters,
                output=output,
                timeout=args.timeout,
                progress=not args.no_progress,
                backend=backend,
            )
        except Exception as error:  # report and go on with the other chapters
            print(f"!! {path} failed: {type(error).__name__}: {error}", file=sys.stderr)
            rows.append((path, None))
            failed = True
            continue
        rows.append((path, course))
    print()
    print(_summary(rows))
    if args.write_readme:
        try:
            changed = update_readme()
        except (TypeError, ValueError) as error:
            print(f"README not updated: {error}", file=sys.stderr)
            return 1
        print(
            f"{README_PATH.name}: chapter table {'updated' if changed else 'already up to date'}."
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
