"""The one figure writer: PNGs of pixels only, and no module of the package writing a figure by itself."""
from __future__ import annotations

import ast
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

import sketch3d  # noqa: E402
from _helpers import assert_pixels_only, png_text_chunks  # noqa: E402
from sketch3d.report.figure_file import save_figure  # noqa: E402

SRC = Path(sketch3d.__file__).parent
WRITER = SRC / "report" / "figure_file.py"


def _figure():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 2, 1])
    ax.set_title("curve")
    return fig


def test_every_figure_goes_through_the_writer():
    """No `savefig` / `imsave` call outside report.figure_file (either would stamp Matplotlib's version unless each
    call site remembered not to; two of ten did not)."""
    calls = []
    for path in sorted(SRC.rglob("*.py")):
        if path == WRITER:
            continue
        for n in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(n, ast.Call):
                name = n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", None)
                if name in ("savefig", "imsave"):
                    calls.append(f"{path.relative_to(SRC)}:{n.lineno} {name}")
    assert not calls, "figures written around sketch3d.report.figure_file.save_figure:\n" + "\n".join(calls)


def test_the_writer_writes_pixels_only_and_the_same_bytes_twice(tmp_path):
    plain = tmp_path / "plain.png"
    fig = _figure()
    fig.savefig(plain, dpi=50)  # Matplotlib's default: its version in a text chunk (what the test would see)
    plt.close(fig)
    assert b"Matplotlib" in png_text_chunks(plain).get("Software", b"")

    a, b = save_figure(_figure(), tmp_path / "a.png", dpi=50), save_figure(_figure(), tmp_path / "b.png", dpi=50)
    assert_pixels_only(a)
    assert a.read_bytes() == b.read_bytes()
    with Image.open(a) as im, Image.open(plain) as ref:
        assert im.size == ref.size == (100, 75)  # the dpi is the caller's
        assert im.tobytes() == ref.tobytes()  # the same pixels as Matplotlib's own file
    assert plt.get_fignums() == []  # closed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "plain.png"]  # no temporary left
