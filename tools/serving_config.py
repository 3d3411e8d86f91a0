"""Write TF Serving's ``models.config`` for every model exported under ``saved_models/``.

    python tools/serving_config.py                       # writes saved_models/models.config
    tensorflow_model_server --port=8500 --rest_api_port=8501 \\
        --model_config_file=$PWD/saved_models/models.config

Each sub-directory of ``--models-dir`` that holds at least one integer version
with a ``saved_model.pb`` becomes one ``config { name base_path model_platform }``
entry of a ``ModelServerConfig`` text proto (``tensorflow_serving.config``), so
the file is exactly what ``--model_config_file`` parses. ``base_path`` is the
model's absolute path, or ``--base-path``/<name> when the server sees the folder
elsewhere (e.g. ``--base-path /models`` inside a container). TF Serving serves
the highest version of each model unless ``--all-versions`` is given.
"""
import argparse
import sys
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from keras_hw2.cli import run_main
from keras_hw2.errors import InputError
from keras_hw2.export import existing_versions

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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write TF Serving's models.config for saved_models/.")
    parser.add_argument("--models-dir", default="saved_models", help="export root (default saved_models/)")
    parser.add_argument("--output", default=None, help="config file to write (default <models-dir>/models.config)")
    parser.add_argument("--base-path", default=None,
                        help="path of --models-dir as the server sees it (default: its absolute path)")
    parser.add_argument("--all-versions", action="store_true", help="serve every version, not only the highest")
    args = parser.parse_args(argv)
    output = write_config(args.models_dir, args.output, args.base_path, args.all_versions)
    print(output.read_text(), end="")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
