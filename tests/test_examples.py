"""The examples run: the folder script, and both notebooks executed with nbclient."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from jpegtools import assert_strictly_valid

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_tiff_folder_to_jpeg(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    scans = tmp_path / "scans"
    (scans / "sub").mkdir(parents=True)
    rgb = np.random.default_rng(0).integers(0, 256, (90, 70, 3), dtype=np.uint8)
    tifffile.imwrite(scans / "a.tif", rgb, photometric="rgb", compression="lzw")
    tifffile.imwrite(scans / "sub" / "b.tiff", rgb[..., 0].copy(), tile=(32, 32), compression="zstd")
    tifffile.imwrite(scans / "bad.tif", np.zeros((8, 8), np.complex64))  # not supported
    run = subprocess.run([sys.executable, str(EXAMPLES / "tiff_folder_to_jpeg.py"), str(scans),
                          str(tmp_path / "out"), "--recursive"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1, run.stderr  # one file failed
    assert "bad.tif" in run.stderr and "floating point" in run.stderr
    assert_strictly_valid((tmp_path / "out" / "a.jpg").read_bytes())
    assert_strictly_valid((tmp_path / "out" / "sub" / "b.jpg").read_bytes())
    assert not (tmp_path / "out" / "bad.jpg").exists()


@pytest.mark.parametrize(
    ("name", "env"),
    [
        ("pillow_vs_streamjpeg.ipynb", {"STREAMJPEG_NB_SCALE": "1"}),
        ("huge_tiff_memory.ipynb", {"STREAMJPEG_NB_MEGAPIXELS": "24"}),
    ],
)
def test_notebook_runs(tmp_path, monkeypatch, name, env):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    pytest.importorskip("tifffile")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    for cell in notebook.cells:  # committed without outputs
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text = "\n".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for out in cell.outputs)
    assert "STREAMJPEG" in text or "peak RSS" in text
