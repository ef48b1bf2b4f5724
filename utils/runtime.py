"""Run-time switches and records shared by every chapter.

- :func:`smoke_mode` reads the ``COURSE_SMOKE`` switch (tiny budgets for tests and CI).
- :func:`set_seed` makes a notebook repeatable on CPU.
- :func:`check_environment` prints the versions a notebook runs with and refuses Keras 2.
- :func:`show_parameters` and :func:`record_metric` display a run's budget knobs and headline
  numbers
  and publish them under course-specific MIME types, which the course runner (:mod:`utils.run`)
  collects into the notebook's ``metadata.course``.
- :func:`timed` prints the wall time of a block (every training run uses it).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import math
import numbers
import os
import platform
import re
import sys
import tempfile
import time

SMOKE_ENV = "COURSE_SMOKE"

METRIC_MIME = "application/vnd.course.metric+json"
PARAMETERS_MIME = "application/vnd.course.parameters+json"
ENVIRONMENT_MIME = "application/vnd.course.environment+json"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

_METRICS: dict[str, dict] = {}


def smoke_mode() -> bool:
    """Return True when the environment variable ``COURSE_SMOKE`` asks for smoke mode.

    Smoke mode shrinks data, epochs and sampling steps so that a notebook runs every cell in well
    under a minute; the test command sets it. Accepted values: ``1/true/yes/on`` and
    ``0/false/no/off`` (case-insensitive); unset means full mode.

    Raises:
        ValueError: the variable holds anything else (e.g. ``COURSE_SMOKE=maybe``).
    """
    value = os.environ.get(SMOKE_ENV, "0").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{SMOKE_ENV} must be one of 1/0, true/false, yes/no, on/off; got {value!r}.")


# Lines TensorFlow's C++ runtime prints on every start whatever TF_CPP_MIN_LOG_LEVEL says; dropped
# from the import's native stderr (anything else it prints is passed on).
_STARTUP_NOISE = (
    "All log messages before absl::InitializeLog()",
    "cudart_stub.cc",
    "cuda drivers",
    "oneDNN custom operations",
    "TF_ENABLE_ONEDNN_OPTS",
)


@contextlib.contextmanager
def quiet_native_stderr():
    """Capture file descriptor 2 (C++ writes there, not to sys.stderr) and pass on all but the
    noise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2 (an embedded interpreter): leave it
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line
                for line in captured.read().decode(errors="replace").splitlines()
                if line.strip() and not any(noise in line for noise in _STARTUP_NOISE)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def share_cores_between_test_workers() -> int | None:
    """In a pytest-xdist worker, give each worker its share of the CPU's cores.

    ``import utils`` calls this before Keras loads its backend, because PyTorch, TensorFlow and
    XLA read their thread counts when they start. Outside a pytest-xdist worker (no
    ``PYTEST_XDIST_WORKER`` in the environment, or a single worker) it does nothing. Inside one,
    it sets ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``TF_NUM_INTRAOP_THREADS`` to
    ``cpu_count // workers`` (at least 1), ``TF_NUM_INTEROP_THREADS`` to 1 and XLA's CPU threads
    likewise, each only where not already set; kernels started by the worker (nbval) inherit
    them. Two workers that each start one thread per core make the threads of PyTorch's OpenMP
    pool (and, less, of TensorFlow's pool) wait on each other: a small PixelCNN's forward pass on
    PyTorch took 93 ms that way on a 2-core machine with another busy process, and 7 ms with one
    thread.

    Returns:
        The number of threads per worker, or ``None`` when nothing was changed.
    """
    try:
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    except ValueError:
        workers = 0
    if "PYTEST_XDIST_WORKER" not in os.environ or workers < 2:
        return None
    threads = max(1, (os.cpu_count() or 1) // workers)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ.setdefault(name, str(threads))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    os.environ.setdefault(
        "XLA_FLAGS",
        f"--xla_cpu_multi_thread_eigen={str(threads > 1).lower()} "
        f"intra_op_parallelism_threads={threads}",
    )
    return threads


def set_seed(seed: int = 0) -> int:
    """Seed Python's ``random``, NumPy and the Keras backend in one call.

    This wraps ``keras.utils.set_random_seed``. Together with model-owned
    ``keras.random.SeedGenerator`` objects for random ops inside models, two executions of a
    notebook on the same CPU machine give the same numbers.

    Args:
        seed: a non-negative Python int.

    Returns:
        The seed, so a notebook can print or record it.

    Raises:
        ValueError: ``seed`` is not a non-negative int.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    import keras

    # keras.utils.set_random_seed also seeds TensorFlow when it is installed, importing it even
    # under JAX or PyTorch: quiet its start-up lines there too.
    with quiet_native_stderr():
        keras.utils.set_random_seed(int(seed))
    return int(seed)


def _publish(mime: str, payload: dict, text: str) -> None:
    """Display ``text`` and attach ``payload`` under ``mime`` when running inside IPython."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: print only
        print(text)
        return
    if get_ipython() is None:
        print(text)
        return
    display({"text/plain": text, mime: payload}, raw=True)


def _backend_version(backend: str) -> str:
    package = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}.get(
        backend, backend
    )
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def environment_info() -> dict:
    """Return the versions a notebook runs with: python, keras, backend, backend_version, mode."""
    import keras

    backend = keras.backend.backend()
    return {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": backend,
        "backend_version": _backend_version(backend),
        "mode": "smoke" if smoke_mode() else "full",
    }


def check_environment(min_keras_major: int = 3) -> dict:
    """Print Python, Keras and backend versions and the run mode; fail clearly on Keras 2.

    Every chapter calls this in its first code cell. The backend is TensorFlow unless the user sets
    ``KERAS_BACKEND`` (jax and torch also work where installed).

    Returns:
        The dict of :func:`environment_info`.

    Raises:
        RuntimeError: the installed Keras is older than ``min_keras_major`` (the course uses
            ``keras.ops`` and ``keras.random``, which Keras 2 does not have).
    """
    import keras

    major = int(keras.__version__.split(".")[0])
    if major < min_keras_major:
        raise RuntimeError(
            f"This course needs Keras >= {min_keras_major}, found keras {keras.__version__}. "
            "Install the pinned versions with `pip install -r requirements.txt` from the "
            "repository root."
        )
    # Keras' TensorFlow trainer warns about tf.function retracing whenever a notebook calls
    # predict() on several small models in a row, as chapters do; the warning is noise there.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    info = environment_info()
    text = (
        f"Python {info['python']} | Keras {info['keras']} | backend {info['backend']} "
        f"{info['backend_version']} | mode: {info['mode']}"
    )
    _publish(ENVIRONMENT_MIME, info, text)
    return info


def _plain(value):
    """Convert a parameter value to something JSON can hold, or return None to skip it."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        if all(i is not None or v is None for i, v in zip(items, value)):
            return items
    return None


def show_parameters(namespace: dict) -> dict:
    """Display the budget knobs of a notebook and publish them for the course runner.

    Call it right after the cell tagged ``parameters`` as ``utils.show_parameters(globals())``.
    It keeps the UPPER_CASE names whose values are scalars, strings or lists/tuples of them (the
    course's convention for knobs), so a reader sees the exact budget a run used.

    Args:
        namespace: a mapping of names to values, usually ``globals()``.

    Returns:
        ``{name: value}`` of the knobs shown (JSON-compatible values).

    Raises:
        ValueError: ``namespace`` is not a dict.
    """
    if not isinstance(namespace, dict):
        raise ValueError(
            f"namespace must be a dict such as globals(), got {type(namespace).__name__}."
        )
    knobs = {}
    for name in sorted(namespace):
        if not name.isupper() or name.startswith("_"):
            continue
        value = _plain(namespace[name])
        if value is not None or namespace[name] is None:
            knobs[name] = value
    width = max((len(n) for n in knobs), default=0)
    lines = ["Parameters of this run:"] + [f"  {n:<{width}} = {v!r}" for n, v in knobs.items()]
    _publish(PARAMETERS_MIME, knobs, "\n".join(lines))
    return knobs


def record_metric(name: str, value, unit: str, *, reference: str | None = None) -> dict:
    """Display a headline metric and make it collectable by the course runner.

    The runner (:mod:`utils.run`) stores every recorded metric in the notebook's
    ``metadata.course.metrics`` as ``{name: {"value": float, "unit": str}}`` (plus ``"reference"``
    when given); the README's chapter table is filled from there, and other chapters read it with
    ``utils.chapter_metric``. Recording the same name twice keeps the last value.

    Args:
        name: identifier-like key, e.g. ``"test_sse_conv_ae"`` (letters, digits, underscores).
        value: a finite real number (Python, NumPy or 0-d tensor).
        unit: what the number measures, e.g. ``"nats/image"``, ``"bits/dim"``, ``"accuracy"``.
        reference: optional text shown beside it, e.g. the paper's number to compare with.

    Returns:
        The record ``{"value": float, "unit": str}`` (plus ``"reference"`` when given).

    Raises:
        ValueError: a malformed name, an empty unit, or a value that is not a finite number.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"metric name must start with a letter and use letters, digits and '_', got {name!r}."
        )
    if not isinstance(unit, str) or not unit.strip():
        raise ValueError(f"unit must be a non-empty string such as 'nats/image', got {unit!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"metric {name!r} needs a real number, got {value!r}.") from None
    if not math.isfinite(number):
        raise ValueError(f"metric {name!r} must be finite, got {number}.")
    record = {"value": number, "unit": unit}
    if reference:
        record["reference"] = str(reference)
    _METRICS[name] = record
    text = f"[metric] {name} = {number:.6g} {unit}"
    if reference:
        text += f"   (reference: {reference})"
    _publish(METRIC_MIME, {"name": name, **record}, text)
    return record


def recorded_metrics() -> dict:
    """Return a copy of the metrics recorded so far in this process: ``{name: record}``."""
    return {k: dict(v) for k, v in _METRICS.items()}


class _Timer:
    seconds: float = float("nan")


@contextlib.contextmanager
def timed(label: str):
    """Context manager that prints the wall time of its block, e.g. a training run.

    Example::

        with utils.timed("conv AE training") as t:
            model.fit(...)
        t.seconds  # wall time in seconds

    Raises:
        ValueError: ``label`` is not a non-empty string.
    """
    if not isinstance(label, str) or not label:
        raise ValueError(f"label must be a non-empty string, got {label!r}.")
    timer = _Timer()
    start = time.perf_counter()
    try:
        yield timer
    finally:
        timer.seconds = time.perf_counter() - start
        print(f"[time] {label}: {timer.seconds:.1f} s wall time")
