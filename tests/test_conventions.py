"""The shared run conventions: seeding, run directories, export, device report, CLI."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hw2 import devices, distribute, export, runs, seeding
from keras_hw2.errors import InputError


def _train_tiny_model(seed):
    seeding.set_seed(seed)
    x = np.random.normal(size=(32, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dropout(0.5), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=True, verbose=0)
    return [w.numpy() for w in model.weights]


def test_same_seed_gives_identical_weights():
    first, second = _train_tiny_model(3), _train_tiny_model(3)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_other_seed_gives_other_weights():
    first, second = _train_tiny_model(3), _train_tiny_model(4)
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))


def test_seed_must_be_non_negative_integer():
    with pytest.raises(ValueError, match="Received: seed=-1"):
        seeding.set_seed(-1)


def test_run_directory_holds_its_config_and_is_locked_while_open(run_root):
    with runs.open_run("demo", {"lr": 0.1, "epochs": 2}, name="a", root=run_root) as run:
        assert run.path == run_root / "demo" / "a" and not run.resumed and run.is_chief
        assert json.loads(run.file("config.json").read_text()) == {"lr": 0.1, "epochs": 2}
        assert run.file(".lock").read_text().strip() == str(os.getpid())
        with pytest.raises(InputError, match=rf"{run.path}: this run is in use by another process \(pid {os.getpid()}\)"):
            runs.open_run("demo", {"lr": 0.1, "epochs": 2}, name="a", root=run_root)
    assert runs.open_run("demo", {"lr": 0.1, "epochs": 2}, name="a", root=run_root).resumed  # released


@pytest.mark.parametrize("name", ["", ".", "..", "../escaped", "a/b", "/tmp/abs", ".hidden", "a b", "-x"])
def test_run_names_are_single_path_components(run_root, name):
    with pytest.raises(InputError, match=r"^--run-name must be one name matching .* Received: --run-name="):
        runs.open_run("demo", {}, name=name, root=run_root)
    assert list(run_root.iterdir()) == []


def test_json_files_are_strict_with_non_finite_numbers_as_null(tmp_path):
    runs.write_json(tmp_path / "x.json", {"loss": [1.0, float("nan"), float("inf")], "best": float("-inf")})
    assert json.loads((tmp_path / "x.json").read_text()) == {"loss": [1.0, None, None], "best": None}
    assert "NaN" not in (tmp_path / "x.json").read_text()


def test_a_non_chief_worker_gets_a_temporary_run_directory_removed_on_close(run_root, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                "task": {"type": "worker", "index": 1}}))
    with runs.open_run("demo", {"strategy": "multiworker"}, name="a", root=run_root) as run:
        assert not run.is_chief and run.path.is_dir() and not run.path.is_relative_to(run_root)
    assert not run.path.exists() and list(run_root.iterdir()) == []


def test_reopening_a_run_with_the_same_config_resumes_it(run_root):
    with runs.open_run("demo", {"lr": 0.1}, name="a", root=run_root) as first:
        assert not first.resumed and first.describe() == f"run: {first.path}"
    with runs.open_run("demo", {"lr": 0.1}, name="a", root=run_root) as again:
        assert again.resumed and not again.finished and again.describe() == f"run: {again.path} (resumed)"


def test_reopening_a_finished_run_is_not_announced_as_resumed(run_root):
    with runs.open_run("demo", {"lr": 0.1}, name="a", root=run_root) as first:
        runs.write_json(first.file(runs.RESULTS_FILE), {"status": "finished"})
    with runs.open_run("demo", {"lr": 0.1}, name="a", root=run_root) as again:
        assert again.finished and not again.resumed
        assert again.describe() == f"run: {again.path} (finished: nothing to train; its results follow)"


def test_reopening_a_run_with_another_config_is_refused(run_root):
    with runs.open_run("demo", {"lr": 0.1, "epochs": 2}, name="a", root=run_root):
        pass
    with pytest.raises(InputError, match=r"another configuration \(differs in: lr\)"):
        runs.open_run("demo", {"lr": 0.2, "epochs": 2}, name="a", root=run_root)


def test_default_run_names_never_collide(run_root):
    first = runs.open_run("demo", {}, root=run_root)
    second = runs.open_run("demo", {}, root=run_root)
    assert first.path != second.path


def test_history_writer_replaces_epochs_after_a_resume_point(tmp_path):
    writer = runs.HistoryWriter(tmp_path / "history.json")
    for epoch, loss in [(0, 3.0), (1, 2.0), (2, 1.0), (1, 1.5)]:  # crash after epoch 2, resume at 1
        writer.on_epoch_end(epoch, {"loss": loss})
    assert runs.read_json(tmp_path / "history.json") == {"epoch": [0, 1], "loss": [3.0, 1.5]}


def _tiny_saved_model_writer(path):
    module = tf.Module()
    module.f = tf.function(lambda x: 2 * x, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, path, signatures=module.f)


def test_export_uses_tf_serving_layout_with_next_free_version(tmp_path):
    first = export.export_saved_model(_tiny_saved_model_writer, "m", root=tmp_path)
    second = export.export_saved_model(_tiny_saved_model_writer, "m", root=tmp_path)
    assert (first, second) == (tmp_path / "m" / "1", tmp_path / "m" / "2")
    assert (second / "saved_model.pb").exists()
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "2"]  # no temporaries left
    loaded = tf.saved_model.load(str(second))
    np.testing.assert_allclose(loaded.signatures["serving_default"](tf.constant([1.5]))["output_0"], [3.0])


def test_export_never_touches_an_existing_version(tmp_path):
    target = tmp_path / "m" / "1"
    target.mkdir(parents=True)
    (target / "keep.txt").write_text("old")
    with pytest.raises(InputError, match="already exists"):
        export.export_saved_model(_tiny_saved_model_writer, "m", root=tmp_path, version=1)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["1"]


def test_failed_export_leaves_no_directory_behind(tmp_path):
    def failing_writer(path):
        _tiny_saved_model_writer(path)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        export.export_saved_model(failing_writer, "m", root=tmp_path)
    assert not (tmp_path / "m").exists()  # the first export of a model: not even its directory stays


@pytest.mark.parametrize("name, version, message", [
    ("bad/name", None, "model name"), ("m", 0, "version must be an integer >= 1. Received: version=0"),
    ("m", "2", "version must be an integer >= 1. Received: version='2'")])
def test_export_rejects_bad_names_and_versions(tmp_path, name, version, message):
    with pytest.raises(InputError, match=message):
        export.export_saved_model(_tiny_saved_model_writer, name, root=tmp_path, version=version)
    assert not any(tmp_path.rglob("*.pb"))


def test_device_report_names_devices_precision_and_xla():
    line = devices.device_report(jit_compile=True)
    assert line.startswith("devices: CPU:0") and "mixed precision: off (float32)" in line
    assert line.endswith("XLA: on") and "\n" not in line


def test_package_lists_its_subcommands(python):
    result = python("-m", "keras_hw2")
    assert result.returncode == 0
    for command in ("cnn", "p2g", "hopfield"):
        assert f"  {command} " in result.stdout


def test_unknown_subcommand_is_a_one_line_error(python):
    result = python("-m", "keras_hw2", "gan")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown command 'gan'; choose one of cnn, p2g, hopfield, report, demo, presets"]


@pytest.mark.parametrize("tf_config, chief", [
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False),
    ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True),
])
def test_the_chief_is_task_chief_or_else_worker_0(tf_config, chief):
    cluster = distribute.read_cluster({"TF_CONFIG": json.dumps(tf_config)})
    assert cluster.is_chief == chief and distribute.is_chief("multiworker", {"TF_CONFIG": json.dumps(tf_config)}) == chief
    assert cluster.addresses[0] == (tf_config["cluster"].get("chief") or tf_config["cluster"]["worker"])[0]
    assert distribute.is_chief("default", {})  # other strategies have no cluster


@pytest.mark.parametrize("environ, message", [
    ({}, "--strategy multiworker needs the TF_CONFIG environment variable"),
    ({"TF_CONFIG": "{not json"}, "TF_CONFIG is not a multi-worker cluster with this task (JSONDecodeError"),
    ({"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}'}, "(IndexError"),
    ({"TF_CONFIG": '{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}'}, "only 'chief' and 'worker'"),
    ({"TF_CONFIG": '{"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", "index": 0}}'}, "host:port"),
    ({"TF_CONFIG": "[]", }, "(TypeError"),
])
def test_a_bad_tf_config_is_one_line(environ, message):
    with pytest.raises(InputError) as error:
        distribute.read_cluster(environ)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "soon"])
def test_the_worker_timeout_must_be_a_positive_number(value):
    with pytest.raises(InputError, match=rf"KERAS_HW2_WORKER_TIMEOUT must be a number of seconds > 0. "
                                         rf"Received: KERAS_HW2_WORKER_TIMEOUT='{value}'"):
        distribute.worker_timeout({"KERAS_HW2_WORKER_TIMEOUT": value})
    assert distribute.worker_timeout({}) == 120


SHARED_FLOOR = ("training", "runs", "checkpoints", "export", "cli", "checks")


def _imported_modules(path) -> set:
    """Every module an ``import`` statement in `path` names, at any depth (inside functions too)."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_shared_floor_imports_no_task_module():
    """Walk the imports of the shared floor and of every keras_hw2 module they reach: no cnn/, p2g/ or hopfield/."""
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "keras_hw2"

    def source(module):
        parts = module.split(".")[1:]
        for candidate in ([package.joinpath(*parts[:-1], parts[-1] + ".py")] if parts else []) + \
                [package.joinpath(*parts, "__init__.py")]:
            if candidate.is_file():
                return candidate
        return None

    seen, todo, reached = set(), [f"keras_hw2.{name}" for name in SHARED_FLOOR], {}
    while todo:
        module = todo.pop()
        if module in seen or source(module) is None:
            continue
        seen.add(module)
        for name in _imported_modules(source(module)):
            if name.startswith("keras_hw2"):
                reached.setdefault(name, module)
                todo.append(name)
    tasks = sorted(f"{name} (imported by {by})" for name, by in reached.items()
                   if name.split(".")[:2] in (["keras_hw2", task] for task in ("cnn", "p2g", "hopfield")))
    assert tasks == []
    assert {"keras_hw2.training", "keras_hw2.checkpoints", "keras_hw2.runs"} <= seen


def test_the_export_lock_is_where_saved_models_readme_says(tmp_path):
    from pathlib import Path

    layout = (Path(__file__).resolve().parents[1] / "saved_models" / "README.md").read_text(encoding="utf-8")
    lock_lines = [line for line in layout.splitlines() if ".lock " in line]
    assert [line.split()[0] for line in lock_lines] == [".<model_name>.lock"]
    assert lock_lines[0].startswith("  .")  # one level below saved_models/, beside <model_name>/
    export.export_saved_model(_tiny_saved_model_writer, "m", root=tmp_path)
    assert (tmp_path / ".m.lock").is_file() and not (tmp_path / "m" / ".lock").exists()
    assert (tmp_path / ".m.lock").read_text().strip() == str(os.getpid())
