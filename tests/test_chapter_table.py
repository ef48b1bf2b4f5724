"""The README chapter table generated from notebook metadata, and chapters' committed numbers."""

import utils
from utils import run

import shutil
import string
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CHAPTERS = run.chapter_paths()


def _fake_chapter(path, *, mode="full", metrics=None, info=True):
    """A chapter notebook carrying a recorded run (no execution needed)."""
    nb = new_notebook(cells=[new_markdown_cell("# Chapter"), new_code_cell("x = 1")])
    nb.metadata["course"] = {
        "mode": mode,
        "parameters": {"N": 10000, "KS": [1, 10]},
        "duration_s": 90.0,
        "versions": {},
        "source_sha256": run.source_hash(nb),
        "metrics": metrics if metrics is not None else {"nll": {"value": 81.234, "unit": "nats"}},
    }
    if info:
        nb.metadata["course_chapter"] = {
            "family": "flows",
            "summary": "a | b",
            "headline": "NLL {nll:.1f} {unit[nll]}",
        }
    nbformat.write(nb, str(path))
    return path


def test_readme_table_matches_the_notebooks():
    """Fails when README.md drifts from the committed notebooks: run
    `python -m utils.run --update-readme`."""
    assert run.readme_block() == run.readme_table()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_each_headline_is_filled_from_recorded_metrics(chapter, tmp_path):
    nb = nbformat.read(str(chapter), as_version=4)
    info = run.check_chapter_info(dict(nb.metadata["course_chapter"]), chapter=chapter.name)
    fields = [f for _, f, _, _ in string.Formatter().parse(info["headline"]) if f]
    assert set(fields) & set(nb.metadata["course"]["metrics"]), "the headline quotes no metric"
    # Changing the recorded numbers changes the row: nothing measured is hard-coded.
    copied = shutil.copy(chapter, tmp_path / chapter.name)
    changed = nbformat.read(str(copied), as_version=4)
    for record in changed.metadata["course"]["metrics"].values():
        record["value"] = record["value"] * 3 + 7
    changed.metadata["course"]["duration_s"] += 600
    nbformat.write(changed, str(copied))
    before, after = run.chapter_row(chapter).split(" | "), run.chapter_row(copied).split(" | ")
    assert before[:3] == after[:3] and before[3] != after[3] and before[4] != after[4]


PLANNED = {"09_future_topic": {"family": "all", "summary": "a chapter not written yet"}}


def test_table_rows_planned_chapters_and_order(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "PLANNED_CHAPTERS", PLANNED)
    _fake_chapter(tmp_path / "04_normalizing_flows.ipynb")
    lines = run.readme_table(tmp_path).splitlines()
    assert lines[:2] == run.TABLE_HEADER.splitlines()
    numbers = [line.split("|")[1].strip().lstrip("[")[:2] for line in lines[2:]]
    assert numbers == sorted(numbers) == ["04", "09"]
    assert lines[2] == (
        "| [04_normalizing_flows](chapters/04_normalizing_flows.ipynb) | flows "
        "| a \\| b | 1.5 | NLL 81.2 nats |"
    )
    assert lines[3] == (
        "| 09_future_topic | all | a chapter not written yet | — | planned |"
    )


def test_rows_refuse_incomplete_chapters(tmp_path):
    with pytest.raises(ValueError, match="course_chapter"):
        run.chapter_row(_fake_chapter(tmp_path / "01_a.ipynb", info=False))
    with pytest.raises(ValueError, match="full-mode run"):
        run.chapter_row(_fake_chapter(tmp_path / "02_b.ipynb", mode="smoke"))
    with pytest.raises(FileNotFoundError):
        run.chapter_row(tmp_path / "missing.ipynb")


def test_minutes_round_half_up():
    assert run._minutes(1155.0) == "19.3" and run._minutes(16.7) == "0.3"
    assert run._minutes(657.6) == "11.0"


def test_render_headline_fields_and_errors():
    course = {
        "metrics": {"fid": {"value": 43.0546, "unit": "FID"}},
        "parameters": {"N_EVAL": 10000, "KS": [1, 100, 1000]},
    }
    text = run.render_headline(
        "N={parameters[N_EVAL]:,} k={parameters[KS][2]}: {fid:.1f} {unit[fid]}", course
    )
    assert text == "N=10,000 k=1000: 43.1 FID"
    with pytest.raises(ValueError, match=r"\{fdi\}.*'fid'"):
        run.render_headline("{fdi:.1f}", course, chapter="03_x")
    with pytest.raises(ValueError, match="cannot fill"):
        run.render_headline("{parameters[MISSING]}", course)
    with pytest.raises(ValueError, match="cannot fill"):
        run.render_headline("{parameters[KS]:.1f}", course)
    with pytest.raises(ValueError, match="malformed"):
        run.render_headline("{fid", course)
    with pytest.raises(TypeError, match="headline must be a str"):
        run.render_headline(3, course)
    with pytest.raises(TypeError, match="course must be"):
        run.render_headline("x", [])


def test_check_chapter_info_errors():
    good = {"family": "GAN", "summary": "s", "headline": "h"}
    assert run.check_chapter_info(good) is good
    with pytest.raises(TypeError, match="must be a dict"):
        run.check_chapter_info(["GAN"])
    with pytest.raises(ValueError, match="lacks 'summary'"):
        run.check_chapter_info({"family": "GAN", "headline": "h"})
    with pytest.raises(TypeError, match="family must be a str"):
        run.check_chapter_info({**good, "family": 1})
    with pytest.raises(ValueError, match="one non-empty line"):
        run.check_chapter_info({**good, "summary": "two\nlines"})


def test_write_chapter_info_touches_only_that_key(tmp_path):
    path = _fake_chapter(tmp_path / "04_f.ipynb", info=False)
    before = nbformat.read(str(path), as_version=4)
    with pytest.raises(ValueError, match="names no recorded metric"):
        run.write_chapter_info(path, family="f", summary="s", headline="{missing:.1f}")
    assert "course_chapter" not in nbformat.read(str(path), as_version=4).metadata
    info = run.write_chapter_info(path, family="f", summary="s", headline="{nll:.2f}")
    after = nbformat.read(str(path), as_version=4)
    assert after.metadata.pop("course_chapter") == info
    assert after == before and run.source_hash(after) == before.metadata["course"]["source_sha256"]


def test_update_readme_rewrites_only_the_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n\n{run.TABLE_START}\nold\n{run.TABLE_END}\n\nrest\n")
    assert run.update_readme(readme, table="| new |") is True
    assert readme.read_text() == f"intro\n\n{run.TABLE_START}\n| new |\n{run.TABLE_END}\n\nrest\n"
    assert run.readme_block(readme) == "| new |"
    assert run.update_readme(readme, table="| new |") is False
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="markers"):
        run.update_readme(readme, table="| new |")
    with pytest.raises(TypeError, match="table must be"):
        run.update_readme(readme, table=3)


def test_cli_prints_the_table(capsys):
    assert run.main(["--readme-table"]) == 0
    assert capsys.readouterr().out.strip() == run.readme_table()
    with pytest.raises(SystemExit):
        run.main(["--readme-table", str(CHAPTERS[0])])
    with pytest.raises(SystemExit):  # one task at a time
        run.main(["--readme-table", "--check"])


# --- committed numbers of a chapter -----------------------------------------------------------


def test_chapter_metrics_of_committed_chapters():
    pixelcnn = next(p for p in CHAPTERS if p.name.startswith("05_"))
    stored = nbformat.read(str(pixelcnn), as_version=4).metadata["course"]["metrics"]
    for name in (
        "05",
        5,
        "05_autoregressive_pixelcnn",
        "05_autoregressive_pixelcnn.ipynb",
        pixelcnn,
        str(pixelcnn),
    ):
        assert run.chapter_metrics(name) == stored
    value = utils.chapter_metric("05", "pixelcnn_test_nll")
    assert isinstance(value, float) and value == stored["pixelcnn_test_nll"]["value"]
    metrics = utils.chapter_metrics("05")
    metrics["pixelcnn_test_nll"]["value"] = 0.0  # a copy: the next call is unaffected
    assert utils.chapter_metric("05", "pixelcnn_test_nll") == value
    assert utils.chapter_metrics is run.chapter_metrics
    assert utils.chapter_metric is run.chapter_metric


def test_chapter_metrics_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "PLANNED_CHAPTERS", PLANNED)
    with pytest.raises(ValueError, match="09_future_topic is planned"):
        run.chapter_metrics("09")
    with pytest.raises(ValueError, match="expected one of: 00_introduction"):
        run.chapter_metrics("99")
    with pytest.raises(ValueError, match="look like"):
        run.chapter_metrics("pixelcnn")
    with pytest.raises(ValueError, match="0..99"):
        run.chapter_metrics(100)
    with pytest.raises(TypeError, match="chapter must be"):
        run.chapter_metrics(5.0)
    with pytest.raises(ValueError, match="not a notebook file"):
        run.chapter_metrics(tmp_path / "05_missing.ipynb")
    with pytest.raises(ValueError, match="has no metric 'nll'.*pixelcnn_test_nll"):
        run.chapter_metric("05", "nll")
    with pytest.raises(TypeError, match="name must be"):
        run.chapter_metric("05", 1)
    smoke = _fake_chapter(tmp_path / "01_smoke.ipynb", mode="smoke")
    with pytest.raises(ValueError, match="'smoke' run, not a full-mode one"):
        run.chapter_metrics(smoke)
    with pytest.raises(ValueError, match="recorded no metric"):
        run.chapter_metrics(_fake_chapter(tmp_path / "02_none.ipynb", metrics={}))
    bare = new_notebook(cells=[new_code_cell("x = 1")])
    nbformat.write(bare, str(tmp_path / "03_bare.ipynb"))
    with pytest.raises(ValueError, match="no metadata.course"):
        run.chapter_metrics("03", directory=tmp_path)


def test_chapter_parameter_reads_the_committed_knobs(tmp_path):
    pixelcnn = next(p for p in CHAPTERS if p.name.startswith("05_"))
    stored = nbformat.read(str(pixelcnn), as_version=4).metadata["course"]["parameters"]
    assert utils.chapter_parameter("05", "N_TEST") == stored["N_TEST"] == 10_000
    assert utils.chapter_parameter is run.chapter_parameter
    with pytest.raises(ValueError, match="has no parameter 'NOPE'.*N_TEST"):
        run.chapter_parameter("05", "NOPE")
    with pytest.raises(TypeError, match="name must be"):
        run.chapter_parameter("05", 3)
    smoke = _fake_chapter(tmp_path / "01_smoke.ipynb", mode="smoke")
    with pytest.raises(ValueError, match="'smoke' run, not a full-mode one"):
        run.chapter_parameter(smoke, "EPOCHS")


def test_chapter_metrics_sees_a_new_run(tmp_path):
    path = _fake_chapter(tmp_path / "01_a.ipynb")
    assert run.chapter_metric(path, "nll") == pytest.approx(81.234)
    nb = nbformat.read(str(path), as_version=4)
    nb.metadata["course"]["metrics"]["nll"]["value"] = 80.0
    nb.metadata["course"]["executed_at"] = "later"  # the file size changes too
    nbformat.write(nb, str(path))
    assert run.chapter_metric("01_a", "nll", directory=tmp_path) == 80.0


def test_runner_module_does_not_import_the_student_edition_tools():
    # `import utils` imports Keras (to register the course models); nbconvert loads only on demand.
    code = "import sys, utils.run\nassert 'nbconvert' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
