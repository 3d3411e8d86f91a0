"""report.md (GitHub-flavoured Markdown) and report.json: the same sections, tables and figures.

report.json holds every number: the settings and preset, every step's outcome
and full result, the published figures, and each table with its raw cells;
report.md shows those tables with `format_cell` (4 significant digits, tiny
numbers in scientific notation, thousands separators, "—" for none). Both write
paths relative to the working directory, the project (`relative_paths`:
``runs/...``, ``../shared/data/...``), never this machine's absolute paths.
"""
import math
import os
import re
import shutil
from pathlib import Path

from keras_hw2.report.figures import FIGURES_DIR
from keras_hw2.report.published import PUBLISHED
from keras_hw2.runs import read_json, write_json, write_text

REPORT_MD = "report.md"
REPORT_JSON = "report.json"
STAGING_PREFIX = ".tmp-report-"  # the folder inside the report folder where a report is written first
NONE = "—"  # an empty cell


def format_cell(value) -> str:
    """One table cell as Markdown text: 4 significant digits, tiny numbers in scientific notation.

    Example:
    >>> [format_cell(v) for v in (5340742, 0.71374, 1.5e-17, 0.0, 1.0, 7265.4, None, True)]
    ['5,340,742', '0.7137', '1.50e-17', '0', '1', '7,265', '—', 'yes']
    >>> print(format_cell("max |x|"))
    max \\|x\\|
    """
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return f"{value:g}"
        if abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


# an absolute path inside a text: "/" after a space, quote or bracket (not "words/s"), up to a space or delimiter
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~/-])/[^\s|`'\"<>()\[\],;:*]+")


def relative_paths(value, base=None):
    """`value` with every absolute path in its strings written relative to `base` (default: the working directory).

    Strings, and the strings inside lists, tuples and dicts (keys left alone), are
    rewritten; other values are returned as they are. Only a path whose first
    component exists on this machine counts as one (so "1/2" or a unit stays).

    Example:
    >>> relative_paths({"data": "/srv/hw/../shared/x.npz: sample", "runs": ["/srv/hw/runs/cnn"]}, base="/srv/hw")
    {'data': '../shared/x.npz: sample', 'runs': ['runs/cnn']}
    """
    base = os.getcwd() if base is None else str(base)
    if isinstance(value, str):
        return _ABSOLUTE_PATH.sub(lambda match: _relative(match.group(0), base), value)
    if isinstance(value, (list, tuple)):
        return type(value)(relative_paths(item, base) for item in value)
    if isinstance(value, dict):
        return {key: relative_paths(item, base) for key, item in value.items()}
    return value


def _relative(path: str, base: str) -> str:
    stripped = path.rstrip(".")
    first = "/" + stripped.lstrip("/").split("/")[0]
    if not os.path.exists(first) and not base.startswith(first):
        return path
    return os.path.relpath(os.path.normpath(stripped), base) + path[len(stripped):]


def markdown_table(table) -> list:
    """The lines of one `keras_hw2.report.tables.Table` in Markdown."""
    lines = [f"### {table.title}", ""]
    if table.caption:
        lines += [table.caption, ""]
    lines.append("| " + " | ".join(table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    lines += ["| " + " | ".join(format_cell(cell) for cell in row) + " |" for row in table.rows]
    return lines + [""]


def write_report(out, header: dict, sections: list, outcomes: dict) -> Path:
    """Write report.md and report.json into `out`; returns the path of report.md.

    Args:
        out: the report folder.
        header: ``{"title", "status", "command", "settings", "preset", "runs_dir", "data", "created",
            "seconds", "notes": [lines]}``.
        sections: the `keras_hw2.report.tables.Section`s, figures attached.
        outcomes: ``{step key: Outcome}``.
    """
    out = Path(out)
    lines = [f"# {header['title']}", "", *header["notes"], "",
             "| setting | value |", "|---|---|",
             f"| command | `{header['command']}` |",
             f"| CNN data | {format_cell(header['data']['cnn'])} |",
             f"| P2G data | {format_cell(header['data']['p2g'])} |",
             f"| seed | {header['settings']['seed']} |",
             f"| runs | `{header['runs_dir']}` |",
             f"| made | {header['created']}, {header['seconds']:.0f} s, status {header['status']} |", ""]
    for section in sections:
        lines += [f"## {section.title}{'' if section.status == 'finished' else f' ({section.status})'}", ""]
        notices = [f"> **Failed:** {format_cell(failure)}" for failure in section.failures]
        notices += [f"> **Not run yet:** {title} (the report was interrupted; run the same command again to "
                    "resume)" for title in section.missing]
        if notices:
            lines += [*[line for notice in notices for line in (notice, ">")][:-1], ""]
        for table in section.tables:
            lines += markdown_table(table)
        for figure in section.figures:
            lines += [f"![{figure['caption']}]({figure['file']})", f"*{figure['caption']}*", ""]
    write_text(out / REPORT_MD, relative_paths("\n".join(lines)))
    write_json(out / REPORT_JSON, relative_paths({
        **header, "published": {key: {"value": value, "data": data} for key, (value, data) in PUBLISHED.items()},
        "sections": [section.as_dict() for section in sections],
        "steps": [outcome.as_dict() for outcome in outcomes.values()],  # in the order they ran
    }))
    return out / REPORT_MD


def publish(stage, out) -> None:
    """Move the report written into `stage` (report.md, report.json, figures/) into `out`, each file with one
    rename: the figures first, report.json, then report.md; last, the PNGs of `out` that the new report does
    not show are removed. At every moment each file of `out` is complete, the old one or the new one, and
    every figure that the report.md there shows is there."""
    stage, out = Path(stage), Path(out)
    figures = stage / FIGURES_DIR
    (out / FIGURES_DIR).mkdir(exist_ok=True)
    new = {path.name for path in figures.glob("*.png")}
    for name in sorted(new):
        os.replace(figures / name, out / FIGURES_DIR / name)
    for name in (REPORT_JSON, REPORT_MD):
        os.replace(stage / name, out / name)
    for stale in (out / FIGURES_DIR).glob("*.png"):
        if stale.name not in new:
            stale.unlink()
    shutil.rmtree(stage)


def settings_of(path) -> dict:
    """The ``settings`` a report.json records (empty when it records none).

    Raises:
        InputError: the file is not valid JSON.
    """
    stored = read_json(path)
    settings = stored.get("settings") if isinstance(stored, dict) else None
    return settings if isinstance(settings, dict) else {}
