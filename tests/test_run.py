"""The course runner: metadata it writes, the source hash, and the stale-output check."""

from utils import run

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def _notebook(path, epochs_line="EPOCHS = 1 if SMOKE else 5"):
    params = new_code_cell(f"SMOKE = utils.smoke_mode()\n{epochs_line}")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(
        cells=[
            new_markdown_cell("# tiny chapter"),
            new_code_cell("import utils\ninfo = utils.check_environment()"),
            params,
            new_code_cell("utils.show_parameters(globals());"),
            new_code_cell("utils.record_metric('epochs_used', EPOCHS, 'epochs');"),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    return path


def test_source_hash_tracks_code_only(tmp_path):
    nb = nbformat.read(str(_notebook(tmp_path / "a.ipynb")), as_version=4)
    base = run.source_hash(nb)
    nb.cells[0].source = "# another title"
    assert run.source_hash(nb) == base
    injected = new_code_cell("EPOCHS = 9")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(3, injected)
    assert run.source_hash(nb) == base
    nb.cells[-1].source += "\nprint('changed')"
    assert run.source_hash(nb) != base


@pytest.mark.slow
def test_execute_writes_course_metadata_and_check_flags_problems(tmp_path):
    source = _notebook(tmp_path / "00_tiny.ipynb")
    out = tmp_path / "out" / "00_tiny.ipynb"
    course = run.execute(source, smoke=True, output=out, progress=False, timeout=300)
    assert course["mode"] == "smoke"
    assert course["metrics"] == {"epochs_used": {"value": 1.0, "unit": "epochs"}}
    assert course["parameters"]["EPOCHS"] == 1 and course["parameters"]["SMOKE"] is True
    assert set(course["versions"]) == {"python", "keras", "backend", "backend_version"}
    assert course["duration_s"] > 0
    executed = nbformat.read(str(out), as_version=4)
    assert executed.metadata["course"] == course
    assert course["source_sha256"] == run.source_hash(executed)
    assert run.check_committed(out) == [
        "00_tiny.ipynb: committed outputs come from a 'smoke' run, not 'full'."
    ]

    # A full run with an overridden knob records the override; editing code afterwards is caught.
    course = run.execute(source, smoke=False, parameters={"EPOCHS": 2}, output=out, progress=False)
    assert course["mode"] == "full" and course["metrics"]["epochs_used"]["value"] == 2.0
    assert run.check_committed(out) == []
    executed = nbformat.read(str(out), as_version=4)
    executed.cells[-1].source = "utils.record_metric('epochs_used', 2 * EPOCHS, 'epochs');"
    nbformat.write(executed, str(out))
    assert any("stale outputs" in p for p in run.check_committed(out))
    assert run.main(["--check", str(out)]) == 1


def test_check_reports_a_never_executed_notebook(tmp_path):
    path = _notebook(tmp_path / "01_new.ipynb")
    assert "no metadata.course" in run.check_committed(path)[0]


@pytest.mark.parametrize("chapter", run.chapter_paths(), ids=lambda p: p.name)
def test_committed_chapters_carry_current_full_mode_outputs(chapter):
    assert run.check_committed(chapter) == []


def test_runner_finds_the_chapters_in_order():
    names = [p.name for p in run.chapter_paths()]
    assert names[:2] == ["00_introduction.ipynb", "01_autoencoders.ipynb"]
    assert names == sorted(names)


# --- Keras backend of the kernels -------------------------------------------------------------


def _backend_probe(path, report=True):
    """A notebook that needs no Keras: it reports the kernel's KERAS_BACKEND the way
    utils.check_environment does (or reports nothing) and records one metric."""
    cells = [new_code_cell("import os\nfrom IPython.display import display")]
    if report:
        cells.append(
            new_code_cell(
                "env = {'python': '3', 'keras': '3', 'backend': os.environ['KERAS_BACKEND'], "
                "'backend_version': '0'}\n"
                f"display({{'text/plain': 'env', {run.ENVIRONMENT_MIME!r}: env}}, raw=True)"
            )
        )
    cells.append(
        new_code_cell(
            f"display({{'text/plain': 'm', {run.METRIC_MIME!r}: "
            "{'name': 'one', 'value': 1.0, 'unit': 'u', 'reference': 'ref'}}, raw=True)"
        )
    )
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    return path


def test_backend_reaches_the_kernel_and_is_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    probe = _backend_probe(tmp_path / "probe.ipynb")
    course = run.execute(probe, output=tmp_path / "out.ipynb", progress=False, backend="jax")
    assert course["backend"] == "jax" and course["versions"]["backend"] == "jax"
    assert course["metrics"] == {"one": {"value": 1.0, "unit": "u", "reference": "ref"}}
    assert set(course) >= {
        "mode",
        "parameters",
        "duration_s",
        "versions",
        "source_sha256",
        "metrics",
        "executed_at",
        "backend",
    }
    assert run.os.environ["KERAS_BACKEND"] == "tensorflow"  # restored after the run
    # Nothing reported by the kernel: the requested backend is recorded.
    silent = _backend_probe(tmp_path / "silent.ipynb", report=False)
    course = run.execute(silent, output=tmp_path / "out2.ipynb", progress=False, backend="torch")
    assert course["backend"] == "torch" and course["versions"] == {}
    assert nbformat.read(str(tmp_path / "out2.ipynb"), as_version=4).metadata["course"] == course


def test_default_backend_and_bad_backends(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert run.default_backend() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", " JAX ")
    assert run.default_backend() == "jax"
    probe = _backend_probe(tmp_path / "probe.ipynb")
    with pytest.raises(ValueError, match="backend must be one of"):
        run.execute(probe, backend="numpy")
    with pytest.raises(TypeError, match="backend must be a str"):
        run.execute(probe, backend=3)
    with pytest.raises(SystemExit):
        run.main(["--backend", "numpy", str(probe)])
    monkeypatch.setenv("KERAS_BACKEND", "numpy")  # an unsupported default is refused clearly
    with pytest.raises(SystemExit):
        run.main([str(probe)])
    assert "course" not in nbformat.read(str(probe), as_version=4).metadata  # nothing executed


def test_summary_shows_the_backend():
    course = {
        "mode": "smoke",
        "backend": "jax",
        "duration_s": 60.0,
        "metrics": {"nll": {"value": 1.5, "unit": "nats"}},
    }
    text = run._summary([(run.Path("00_a.ipynb"), course), (run.Path("01_b.ipynb"), None)])
    header, _, row, failed = text.splitlines()
    assert "backend" in header and row.split()[:4] == ["00_a.ipynb", "smoke", "jax", "1.00"]
    assert failed.endswith("FAILED")


@pytest.mark.slow
def test_keras_runs_on_the_requested_backend(tmp_path):
    pytest.importorskip("jax")
    source = _notebook(tmp_path / "00_tiny.ipynb")
    course = run.execute(
        source,
        smoke=True,
        output=tmp_path / "jax.ipynb",
        progress=False,
        timeout=300,
        backend="jax",
    )
    assert course["backend"] == "jax" == course["versions"]["backend"]


def test_write_readme_after_a_full_run_in_place(tmp_path, monkeypatch, capsys):
    probe = _notebook(tmp_path / "00_probe.ipynb")
    calls = []
    course = {"mode": "full", "backend": "tensorflow", "duration_s": 6.0, "metrics": {}}
    monkeypatch.setattr(
        run, "execute", lambda path, **kwargs: calls.append(("run", path)) or course
    )
    monkeypatch.setattr(run, "update_readme", lambda **kwargs: calls.append(("readme",)) or True)
    assert run.main([str(probe), "--no-progress", "--write-readme"]) == 0
    assert calls == [("run", probe), ("readme",)]
    assert "chapter table updated" in capsys.readouterr().out
    calls.clear()
    assert run.main([str(probe), "--no-progress"]) == 0
    assert calls == [("run", probe)]  # the README is rewritten only when asked
    for other in (["--smoke"], ["--output-dir", str(tmp_path)], ["--check"]):
        with pytest.raises(SystemExit):
            run.main([str(probe), "--write-readme", *other])
    assert calls == [("run", probe)]


def test_run_only_overrides_are_not_committed(tmp_path):
    """A full run with -p SAVE_PRETRAINED True must not leave a cell that makes a reader's re-run
    overwrite models/; other overrides stay visible."""
    from nbformat.v4 import new_code_cell as code

    nb = nbformat.read(str(_notebook(tmp_path / "00_x.ipynb")), as_version=4)
    injected = code("# Parameters\nSAVE_PRETRAINED = True\n")
    injected.metadata["tags"] = [run.INJECTED_TAG]
    mixed = code("# Parameters\nEPOCHS = 3\nSAVE_PRETRAINED = True\n")
    mixed.metadata["tags"] = [run.INJECTED_TAG]
    nb.cells[2:2] = [injected, mixed]
    run._drop_run_only_overrides(nb)
    assert injected not in nb.cells and mixed in nb.cells
    nb.metadata["course"] = {
        "mode": "full",
        "parameters": {},
        "duration_s": 1.0,
        "versions": {},
        "source_sha256": run.source_hash(nb),
        "metrics": {"m": {"value": 1.0, "unit": "u"}},
    }
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = 1
    path = tmp_path / "00_y.ipynb"
    nbformat.write(nb, str(path))
    assert any("run-only knob" in p for p in run.check_committed(path))
    nb.cells.remove(mixed)
    nb.metadata["course"]["source_sha256"] = run.source_hash(nb)
    nbformat.write(nb, str(path))
    assert run.check_committed(path) == []
