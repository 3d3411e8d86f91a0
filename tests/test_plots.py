"""Figures are written atomically (`keras_hw2.plots.save_figure`): a failed or interrupted write leaves the old
picture whole and no temporary beside it."""
import errno
import os

import pytest

from keras_hw2.errors import ResourceError
from keras_hw2.plots import plot_curves
from kill_harness import PNG_END, PNG_SIGNATURE


def test_a_plot_is_a_complete_png_and_a_new_one_replaces_it_whole(tmp_path):
    path = plot_curves({"training": [3.0, 2.0], "validation": [3.5, 2.5]}, tmp_path / "loss.png")
    first = path.read_bytes()
    assert first.startswith(PNG_SIGNATURE) and first.endswith(PNG_END)
    plot_curves({"training": [3.0, 2.0, 1.0]}, path)
    second = path.read_bytes()
    assert second != first and second.endswith(PNG_END)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png"]


def test_a_plot_write_without_room_keeps_the_old_picture_and_names_the_file(tmp_path, monkeypatch):
    path = plot_curves({"training": [3.0, 2.0]}, tmp_path / "loss.png")
    old = path.read_bytes()

    def no_room(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_room)  # the write reached the temporary, the disk is full before the rename
    with pytest.raises(ResourceError, match=f"loss.png: {os.strerror(errno.ENOSPC)} while writing it"):
        plot_curves({"training": [3.0, 2.0, 1.0]}, path)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png"]
