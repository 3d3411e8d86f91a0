"""TF Serving's ``models.config``: one entry per model exported under ``saved_models/``.

    python -m keras_hw2.serving config                 # writes saved_models/models.config
    tensorflow_model_server --port=8500 --rest_api_port=8501 \\
        --model_config_file=$PWD/saved_models/models.config

Each sub-directory of the export root that holds at least one integer version
with a ``saved_model.pb`` becomes one ``config { name base_path model_platform }``
entry of a ``ModelServerConfig`` text proto (``tensorflow_serving.config``), so
the file is exactly what ``--model_config_file`` parses. ``base_path`` is the
model's absolute path, or ``base_path/<name>`` when the server sees the folder
elsewhere (e.g. ``/models`` inside a container). TF Serving serves the highest
version of each model unless every version is asked for.
"""
from pathlib import Path

from google.protobuf import text_format

from keras_hw2.errors import InputError
from keras_hw2.export import existing_versions
from keras_hw2.serving.client import require_serving_api

CONFIG_NAME = "models.config"


def served_models(models_dir) -> dict:
    """``{model_name: [versions]}`` for each model under `models_dir` with a complete version."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise InputError(f"{models_dir}: no such directory (export a model first)")
    models = {}
    for model_dir in sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        versions = [v for v in existing_versions(model_dir) if (model_dir / str(v) / "saved_model.pb").exists()]
        if versions:
            models[model_dir.name] = versions
    return models


def model_server_config(models_dir, base_path=None, all_versions: bool = False):
    """The `ModelServerConfig` proto serving every model under `models_dir`.

    Args:
        models_dir: the export root, ``saved_models/``.
        base_path: the directory the server sees in place of `models_dir`;
            `models_dir`'s absolute path when None.
        all_versions: serve every version instead of only the highest.

    Raises:
        InputError: `models_dir` is missing or holds no exported model.
    """
    require_serving_api("writing models.config")
    from tensorflow_serving.config import model_server_config_pb2

    models = served_models(models_dir)
    if not models:
        raise InputError(f"{models_dir}: holds no exported model (<name>/<version>/saved_model.pb)")
    root = base_path.rstrip("/") if base_path else str(Path(models_dir).resolve())
    config = model_server_config_pb2.ModelServerConfig()
    for name in models:
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = f"{root}/{name}"
        entry.model_platform = "tensorflow"
        if all_versions:
            entry.model_version_policy.all.SetInParent()
    return config


def write_config(models_dir, output=None, base_path=None, all_versions: bool = False) -> Path:
    """Write `model_server_config(...)` as a text proto to `output` (``models_dir/models.config``)."""
    config = model_server_config(models_dir, base_path, all_versions)
    output = Path(output) if output else Path(models_dir) / CONFIG_NAME
    output.write_text(text_format.MessageToString(config))
    return output
