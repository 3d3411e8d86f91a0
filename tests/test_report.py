"""`python -m keras_hw2 report`: the quick preset end to end, reuse on a second call, failed and interrupted
steps, bad input."""
import contextlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from keras_hw2 import cli
from keras_hw2.report import __main__ as report_cli

REPO = Path(__file__).resolve().parents[1]
STEP_KEYS = ["hopfield-check", "hopfield-retrieval", "hopfield-capacity", "cnn-lr-search", "cnn-baseline",
             "cnn-batchnorm", "p2g-plain", "p2g-plain-eval", "p2g-attention", "p2g-attention-eval"]


def _report(*argv, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": ""}
    return subprocess.run([sys.executable, "-m", "keras_hw2", "report", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def _main(argv) -> int:
    """The exit status of ``python -m keras_hw2 report *argv``, run in this process."""
    try:
        return cli.run_main(report_cli.main, argv)
    except SystemExit as e:  # argument errors
        return e.code


def _files(root) -> dict:
    """``{path: modification time}`` of every file under `root`."""
    return {path: path.stat().st_mtime_ns for path in Path(root).rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """Two calls of ``report --preset quick`` into one folder, the only training of this file.

    The first runs the command in a fresh process (its exact output is checked); the second
    runs in this process and must reuse every step. Returns ``(folder, first call, the second
    call's (status, stdout, stderr), the first call's report.json)``.
    """
    root = tmp_path_factory.mktemp("report")
    first = _report("--preset", "quick", "--out", "reports/q", "--runs-dir", "runs", cwd=root)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    first_json = json.loads((root / "reports/q/report.json").read_text())
    runs = _files(root / "runs")
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = _main(["--preset", "quick", "--out", "reports/q", "--runs-dir", "runs", "--quiet"])
    finally:
        os.chdir(cwd)
    assert _files(root / "runs") == runs  # nothing trained, written or touched under runs/
    return root, first, (status, out.getvalue(), err.getvalue()), first_json


def _sections(markdown: str) -> dict:
    """``{heading: text}`` of the ``## `` sections."""
    parts = re.split(r"^## (.+)$", markdown, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def _tables(markdown: str) -> dict:
    """``{table title: [rows of cells]}`` of every ``### title`` followed by a Markdown table."""
    tables = {}
    for title, body in zip(*[iter(re.split(r"^### (.+)$", markdown, flags=re.MULTILINE)[1:])] * 2):
        lines = [line for line in body.splitlines() if line.startswith("|")]
        rows = [[cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
        tables[title] = [rows[0], *rows[2:]]
    return tables


def _number(cell: str):
    try:
        return float(cell.replace(",", ""))
    except ValueError:
        return None


def test_the_first_call_runs_every_step_and_prints_a_line_per_step(quick):
    root, first, _, report = quick
    lines = first.stdout.splitlines()
    assert lines[0].startswith("devices: CPU:0")  # as every task command prints it
    assert [re.match(r"\[(\d+)/10\] ", line).group(1) for line in lines[1:-1]] == [str(i) for i in range(1, 11)]
    assert re.search(r"^\[4/10\] Q2 learning-rate search .*: finished in [\d.]+ s, 6 epochs trained; 6 steps left$",
                     first.stdout, flags=re.MULTILINE)
    assert lines[-1] == "report: reports/q/report.md"
    assert first.stderr == ""  # no TensorFlow start-up lines, no warnings
    assert report["status"] == "finished" and [step["key"] for step in report["steps"]] == STEP_KEYS
    assert not any(step["reused"] for step in report["steps"])
    trained = {step["key"]: step["trained_epochs"] for step in report["steps"] if step["trained_epochs"]}
    # each model trained once: the baseline (2 epochs at the best learning rate) is the search's best trial
    assert trained == {"cnn-lr-search": 6, "cnn-batchnorm": 2, "p2g-plain": 2, "p2g-attention": 2}


def test_the_q2_baseline_is_the_best_trial_of_the_search(quick):
    root, _, _, report = quick
    steps = _steps(report)
    summary, baseline = steps["cnn-lr-search"]["result"]["summary"], steps["cnn-baseline"]["result"]
    assert baseline["run"] == summary["run"] == max(summary["trials"], key=lambda t: t["best_val_accuracy"])["run"]
    assert Path(baseline["run"]).parent == Path("runs/tuner") / Path(summary["run"]).parent.name
    run = root / baseline["run"]
    assert json.loads((run / "config.json").read_text())["learning_rate"] == summary["learning_rate"]
    assert baseline["results"] == json.loads((run / "results.json").read_text())
    assert baseline["results"]["best_val_accuracy"] == summary["val_accuracy"]
    assert sorted(path.name for path in (root / "runs/tuner").iterdir()) == [Path(summary["run"]).parent.name]
    assert not (root / "runs/cnn").exists() or not list((root / "runs/cnn").glob("report-baseline-*"))


def test_the_report_has_the_three_questions_with_numeric_tables(quick):
    root = quick[0]
    sections = _sections((root / "reports/q/report.md").read_text(encoding="utf-8"))
    questions = [title for title in sections if title.startswith("Question")]
    assert questions == ["Question 1: modern Hopfield networks", "Question 2: CNN scene classifiers",
                         "Question 3: phoneme-to-grapheme seq2seq"]
    for title in questions:
        numeric = [table for table, rows in _tables(sections[title]).items()
                   if any(_number(cell) is not None for row in rows[1:] for cell in row[1:])]
        assert numeric, title
    q2 = _tables(sections["Question 2: CNN scene classifiers"])
    rows = {row[0]: row for row in q2["The two CNNs (SGD at the best learning rate, batch 8, dropout 0.1)"]}
    # ours (counted on the built models) against the homework's
    assert rows["trainable parameters, baseline"][1:3] == ["5,340,742", "5,340,742"]
    assert rows["trainable parameters, BatchNorm"][1:3] == ["755,718", "755,718"]
    q3 = _tables(sections["Question 3: phoneme-to-grapheme seq2seq"])["CER and WER of the two spellers"]
    assert all(row[3].startswith("validation") for row in q3[1:])


# The row of each published figure (`keras_hw2.report.published.PUBLISHED`): (table title start, row label).
PUBLISHED_ROWS = {
    "cnn_best_lr": ("Learning-rate search", "best learning rate"),
    "cnn_best_val_accuracy_baseline": ("The two CNNs", "best validation accuracy, baseline"),
    "cnn_best_val_accuracy_batchnorm": ("The two CNNs", "best validation accuracy, BatchNorm"),
    "cnn_params_baseline": ("The two CNNs", "trainable parameters, baseline"),
    "cnn_params_batchnorm": ("The two CNNs", "trainable parameters, BatchNorm"),
    "p2g_cer_plain": ("CER and WER", "CER, greedy, without attention"),
    "p2g_wer_plain": ("CER and WER", "WER, greedy, without attention"),
    "p2g_cer_attention": ("CER and WER", "CER, greedy, with attention"),
    "p2g_wer_attention": ("CER and WER", "WER, greedy, with attention"),
    "p2g_nucleus_cer_attention": ("CER and WER", "CER, nucleus p=0.8 (first sample), with attention"),
    "p2g_nucleus_wer_attention": ("CER and WER", "WER, nucleus p=0.8 (first sample), with attention"),
    "p2g_nucleus_wer_at_3_attention": ("CER and WER", "WER@3, nucleus p=0.8, with attention"),
}


def test_each_published_figure_is_shown_in_its_own_row_and_nowhere_else(quick, monkeypatch):
    """The tables take the homework's figures from PUBLISHED: stand-in values must land in their rows."""
    from keras_hw2.report import tables
    from keras_hw2.report.build import STEPS
    from keras_hw2.report.steps import Outcome

    report = quick[3]
    stand_ins = {key: (1000.0 + i, f"stand-in data {i}") for i, key in enumerate(tables.PUBLISHED)}
    monkeypatch.setattr(tables, "PUBLISHED", stand_ins)
    outcomes = {step["key"]: Outcome(**step) for step in report["steps"]}
    sections = tables.build_sections(outcomes, report["data"], STEPS)
    shown = {}
    for section in sections:
        for table in section.tables:
            if "homework data" not in table.columns:
                continue
            value, data = table.columns.index("homework"), table.columns.index("homework data")
            for row in table.rows:
                if row[value] is not None and not isinstance(row[value], str):
                    shown.setdefault(row[value], []).append((table.title, row[0], row[data]))
    assert set(PUBLISHED_ROWS) == set(stand_ins)
    for key, (table, label) in PUBLISHED_ROWS.items():
        value, data = stand_ins[key]
        (where,) = shown.pop(value)
        assert where[0].startswith(table) and where[1:] == (label, data), (key, where)
    assert shown == {}  # no other figure in a "homework" column


def test_every_linked_figure_exists(quick):
    root = quick[0]
    markdown = (root / "reports/q/report.md").read_text(encoding="utf-8")
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert sorted(linked) == sorted(f"figures/{name}.png" for name in (
        "hopfield_energy", "hopfield_accuracy", "hopfield_capacity", "hopfield_capacity_largest", "cnn_lr_loss",
        "cnn_lr_val_accuracy", "cnn_loss", "cnn_val_accuracy",
        "cnn_confusion_baseline", "cnn_confusion_batchnorm", "p2g_val_cer", "p2g_attention"))
    for file in linked:
        assert (root / "reports/q" / file).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", file


def test_report_json_holds_the_tables_of_report_md(quick):
    root = quick[0]
    report = json.loads((root / "reports/q/report.json").read_text())
    markdown = (root / "reports/q/report.md").read_text(encoding="utf-8")
    shown = _tables(markdown)
    compared = 0
    for section in report["sections"]:
        for table in section["tables"]:
            rows = shown[table["title"]]
            assert rows[0] == table["columns"] and len(rows) == len(table["rows"]) + 1
            for row, cells in zip(table["rows"], rows[1:]):
                for value, cell in zip(row, cells):
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        assert math.isclose(_number(cell), value, rel_tol=1e-3, abs_tol=5e-5), (table["title"], row)
                        compared += 1
                    elif value is None:
                        assert cell == "—"
    assert compared > 60
    baseline = _steps(report)["cnn-baseline"]["result"]["results"]
    assert report["sections"][1]["tables"][1]["rows"][2][1] == baseline["best_val_accuracy"]


def test_a_second_call_reuses_every_step(quick):
    root, _, (status, out, err), first_json = quick
    assert (status, out, err) == (0, "report: reports/q/report.md\n", "")  # --quiet
    report = json.loads((root / "reports/q/report.json").read_text())
    assert len(report["steps"]) == 10
    assert all(step["reused"] and step["trained_epochs"] == 0 for step in report["steps"])
    assert report["sections"][:3] == first_json["sections"][:3]  # the same tables and figures


def _steps(report: dict) -> dict:
    """``{step key: outcome}`` of a report.json, in the order the steps ran."""
    return {step["key"]: step for step in report["steps"]}


def _move_aside(root, key):
    """Hide a step's record (so it runs again); returns a function putting it back."""
    record = Path(_steps(json.loads((root / "reports/q/report.json").read_text()))[key]["directory"])
    record = root / record if not record.is_absolute() else record
    aside = record.with_name(record.name + ".aside")
    record.rename(aside)

    def restore():
        shutil.rmtree(record, ignore_errors=True)
        aside.rename(record)
    return restore


def test_a_failed_step_marks_its_section_and_leaves_the_others(quick, monkeypatch, capsys):
    from keras_hw2.report import questions

    root = quick[0]
    monkeypatch.chdir(root)
    restore = _move_aside(root, "cnn-lr-search")
    def broken(*args, **kwargs):
        raise RuntimeError("the tuner broke\nsecond line")
    monkeypatch.setattr(questions, "search_learning_rate", broken)
    try:
        status = _main(["--out", "reports/failed", "--quiet"])
    finally:
        restore()
    captured = capsys.readouterr()
    assert status == 1 and captured.out == "report: reports/failed/report.md (some steps failed)\n"
    assert captured.err.splitlines() == [
        "[4/10] Q2 learning-rate search (3 trials x 2 epochs): FAILED after " +
        re.search(r"after ([\d.]+) s", captured.err).group(1) + " s: RuntimeError: the tuner broke; 6 steps left",
        "[5/10] Q2 baseline CNN: FAILED, not run: it needs 'Q2 learning-rate search (3 trials x 2 epochs)', which "
        "failed; 5 steps left",
        "[6/10] Q2 BatchNorm CNN: FAILED, not run: it needs 'Q2 learning-rate search (3 trials x 2 epochs)', which "
        "failed; 4 steps left"]
    report = json.loads((root / "reports/failed/report.json").read_text())
    assert report["status"] == "failed"
    assert [section["status"] for section in report["sections"]] == ["finished", "failed", "finished", "finished"]
    assert report["sections"][1]["tables"] == [] and report["sections"][1]["figures"] == []
    assert all(step["reused"] for key, step in _steps(report).items() if not key.startswith("cnn"))
    sections = _sections((root / "reports/failed/report.md").read_text(encoding="utf-8"))
    assert "> **Failed:** Q2 learning-rate search (3 trials x 2 epochs): RuntimeError: the tuner broke" \
        in sections["Question 2: CNN scene classifiers (failed)"]
    assert len(_tables(sections["Question 3: phoneme-to-grapheme seq2seq"])) == 2
    assert (root / "reports/failed/figures/p2g_val_cer.png").is_file()


def test_ctrl_c_writes_the_report_so_far(quick, monkeypatch, capsys):
    from keras_hw2.report import questions

    root = quick[0]
    monkeypatch.chdir(root)
    restore = _move_aside(root, "p2g-attention")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt("at epoch 2 of runs/p2g/x; re-run the same command to resume")
    monkeypatch.setattr(questions.p2g_train_module, "train_and_evaluate", interrupted)
    try:
        status = _main(["--out", "reports/interrupted", "--quiet"])
    finally:
        restore()
    assert status == 130
    assert capsys.readouterr().err == (
        "interrupted: in step 9 of 10, Q3 speller with attention (2 epochs, 16 units) at epoch 2 of runs/p2g/x; "
        "re-run the same command to resume (finished steps are reused); the report so far: "
        "reports/interrupted/report.md\n")
    report = json.loads((root / "reports/interrupted/report.json").read_text())
    assert report["status"] == "interrupted" and list(_steps(report)) == STEP_KEYS[:8]
    assert [section["status"] for section in report["sections"]] == ["finished", "finished", "incomplete", "finished"]
    assert report["sections"][2]["missing"] == ["Q3 speller with attention", "Q3 decoding with attention"]
    sections = _sections((root / "reports/interrupted/report.md").read_text(encoding="utf-8"))
    assert "> **Not run yet:** Q3 decoding with attention (the report was interrupted; run the same command again " \
        "to resume)" in sections["Question 3: phoneme-to-grapheme seq2seq (incomplete)"]


def test_an_out_folder_with_another_report_is_refused_unless_overwrite(quick, monkeypatch, capsys):
    from keras_hw2.report.build import check_out
    from keras_hw2.report.inputs import Settings

    root = quick[0]
    monkeypatch.chdir(root)
    before = (root / "reports/q/report.json").stat().st_mtime_ns
    assert _main(["--out", "reports/q", "--seed", "1", "--runs-dir", "elsewhere"]) == 2
    assert capsys.readouterr().err == (
        "error: reports/q: holds a report made with other settings (differs in: seed); pass --overwrite to replace "
        "it or choose another --out. Received: --out=reports/q\n")
    assert (root / "reports/q/report.json").stat().st_mtime_ns == before and not (root / "elsewhere").exists()
    check_out("reports/q", Settings("quick", seed=1), overwrite=True)  # accepted
    check_out("reports/q", Settings("quick"))  # the same settings: the report is remade


@pytest.mark.parametrize("argv, message", [
    (["--data-cnn", "missing.npz"], "missing.npz: no such file or directory"),
    (["--data-cnn", "notes.txt"], "notes.txt: not a readable .npz file"),
    (["--data-cnn", "keys.npz"], "keys.npz: missing key(s) val_images, val_labels"),
    (["--data-p2g", "missing"], "missing: no such directory. Received: --data-p2g="),
    (["--data-p2g", "notes.txt"], "notes.txt: not a directory (expected one holding train.tsv and valid.tsv)"),
    (["--data-p2g", "p2g"], "p2g/train.tsv:2: no tab between phonemes and spelling"),
    (["--preset", "fast"], "argument --preset: invalid choice: 'fast'"),
    (["--only", "q4"], "--only must name one or more of q1, q2, q3, separated by commas. Received: --only='q4'"),
    (["--only", ""], "--only must name one or more of q1, q2, q3, separated by commas. Received: --only=''"),
    (["--only", "q1,"], "Received: --only='q1,'"),
    (["--seed", "-1"], "--seed must be an integer >= 0. Received: --seed=-1"),
    (["--out", "notes.txt"], "notes.txt: not a directory. Received: --out=notes.txt"),
    (["--out", "broken"], "broken/report.json: not valid JSON (Expecting value at line 1); pass --overwrite to "
                          "replace it. Received: --out=broken"),
    (["--out", "other"], "other: holds a report made with other settings (differs in: preset, seed); pass "
                         "--overwrite"),
])
def test_bad_input_stops_before_anything_is_written(tmp_path, monkeypatch, capsys, argv, message):
    import numpy as np

    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not data\n")
    np.savez(tmp_path / "keys.npz", train_images=np.zeros((2, 48, 48, 3), "uint8"), train_labels=np.zeros(2, "int64"))
    (tmp_path / "p2g").mkdir()
    (tmp_path / "p2g/train.tsv").write_text("K AE T\tcat\nD AO G dog\n")
    (tmp_path / "p2g/valid.tsv").write_text("K AE T\tcat\n")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken/report.json").write_text("not json\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other/report.json").write_text('{"title": "another tool\'s report"}\n')
    before = sorted(tmp_path.rglob("*"))
    status = _main(argv)
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
    assert sorted(tmp_path.rglob("*")) == before  # no reports/, no runs/


def test_only_runs_and_writes_the_questions_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert _main(["--preset", "quick", "--only", "q1", "--out", "reports/q1", "--runs-dir", "runs", "--quiet"]) == 0
    markdown = (tmp_path / "reports/q1/report.md").read_text(encoding="utf-8")
    assert list(_sections(markdown)) == ["Question 1: modern Hopfield networks", "Steps"]
    from keras_hw2.report.build import selected_steps

    q1 = selected_steps(["q1"])
    assert [key for key, _ in q1] == [key for key in STEP_KEYS if key.startswith("hopfield-")]
    assert [row[0].split(" (")[0] for row in _tables(markdown)["What ran"][1:]] == [title for _, title in q1]
    report = json.loads((tmp_path / "reports/q1/report.json").read_text())
    assert report["questions"] == ["q1"] and [step["key"] for step in report["steps"]] == [key for key, _ in q1]
    assert f"0 of {len(q1)} steps were reused" in markdown
    assert not [path for path in (tmp_path / "runs" / "report").iterdir() if path.name.startswith(("cnn", "p2g"))]
    assert not (tmp_path / "runs" / "cnn").exists() and not (tmp_path / "runs" / "p2g").exists()


def test_the_quick_presets_comparison_tables_say_they_come_from_a_smoke_run(quick):
    sections = _sections((quick[0] / "reports/q/report.md").read_text(encoding="utf-8"))
    for title in ("Question 2: CNN scene classifiers", "Question 3: phoneme-to-grapheme seq2seq"):
        tables = _tables(sections[title])
        compared = [name for name, rows in tables.items() if "homework data" in rows[0]]
        assert compared, title
        for name in compared:
            assert tables[name][0][1:3] == ["ours (smoke run)", "homework (its settings; not comparable)"], name
        assert sections[title].count("**Smoke run** (`--preset quick`") == len(compared)


def test_help_imports_no_tensorflow():
    code = ("import sys; from keras_hw2 import __main__ as m\ntry:\n    m.main(['report', '--help'])\n"
            "except SystemExit:\n    pass\n"
            "print('imported:', [n for n in ('tensorflow', 'keras') if n in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith("usage: python -m keras_hw2 report [-h] [--preset {quick,full}]")
    assert result.stdout.splitlines()[-1] == "imported: []"


def test_both_presets_search_for_as_many_epochs_as_they_train_so_the_baseline_is_trained_once():
    from keras_hw2.report.presets import PRESETS
    assert all(preset.lr_search_epochs == preset.cnn_epochs for preset in PRESETS.values())



def test_the_report_writes_paths_relative_to_the_project_never_absolute_ones(tmp_path, monkeypatch):
    """Absolute paths of runs and data (under the project and beside it) are written as ``runs/...`` and
    ``../shared/data/...`` in report.md and report.json; the same settings are then not taken for other ones."""
    from keras_hw2.report.build import check_out
    from keras_hw2.report.inputs import Settings
    from keras_hw2.report.render import write_report
    from keras_hw2.report.steps import Outcome
    from keras_hw2.report.tables import Section, Table
    project = tmp_path / "project"
    (project / "out").mkdir(parents=True)
    monkeypatch.chdir(project)
    data = str(tmp_path / "shared" / "data" / "intel_landscapes_48.npz")
    run = str(project / "runs" / "cnn" / "baseline")
    settings = Settings("full", data_cnn=data, data_p2g=str(tmp_path / "shared" / "data" / "p2g"))
    header = {"title": "t", "status": "finished", "command": "python -m keras_hw2 report", "notes": [],
              "settings": settings.as_dict(), "preset": {}, "runs_dir": str(project / "runs"),
              "data": {"cnn": f"image data {data}: 7,867 images", "p2g": settings.data_p2g},
              "created": "now", "seconds": 1.0}
    section = Section("q2", "Q2", ["cnn-baseline"], tables=[Table("runs", ["run"], [[run]])])
    outcome = Outcome("cnn-baseline", "Q2 baseline", "finished", directory=run,
                      result={"run": run, "checkpoint": f"{run}/best.keras"})
    write_report(project / "out", header, [section], {"cnn-baseline": outcome})
    for name in ("report.md", "report.json"):
        text = (project / "out" / name).read_text()
        assert str(tmp_path) not in text, name
        assert "../shared/data/intel_landscapes_48.npz" in text and "runs/cnn/baseline" in text
    report = json.loads((project / "out" / "report.json").read_text())
    assert report["runs_dir"] == "runs" and report["steps"][0]["directory"] == "runs/cnn/baseline"
    assert report["steps"][0]["result"]["checkpoint"] == "runs/cnn/baseline/best.keras"
    assert report["settings"]["data_cnn"] == "../shared/data/intel_landscapes_48.npz"
    assert report["data"]["cnn"] == "image data ../shared/data/intel_landscapes_48.npz: 7,867 images"
    assert "| CNN data | image data ../shared/data/intel_landscapes_48.npz: 7,867 images |" in \
        (project / "out" / "report.md").read_text()
    check_out(project / "out", settings)  # the same settings: not refused
    with pytest.raises(Exception, match="holds a report made with other settings"):
        check_out(project / "out", Settings("full", data_cnn=data))
