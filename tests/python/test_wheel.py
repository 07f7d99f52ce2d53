"""The wheel: one abi3 wheel for CPython >= 3.9 with the type stubs, that installs and runs in a fresh venv with
nothing else (no numpy, no dask)."""
import os
import subprocess
import sys
import zipfile

from conftest import MODELS

WHEEL = os.environ.get("ROBERTA_RS_WHEEL")


def test_wheel_contents():
    assert WHEEL and os.path.exists(WHEEL), "ROBERTA_RS_WHEEL must name the built wheel (cargo xtask python-test sets it)"
    assert "-cp39-abi3-" in os.path.basename(WHEEL)
    names = zipfile.ZipFile(WHEEL).namelist()
    for f in ("roberta_rs/__init__.py", "roberta_rs/dask.py", "roberta_rs/_native.pyi", "roberta_rs/py.typed"):
        assert f in names, names
    assert any(n.startswith("roberta_rs/_native") and n.endswith(".so") for n in names)


def test_docstrings(roberta_rs):
    for obj in (roberta_rs, roberta_rs.pipeline, roberta_rs.Tokenizer, roberta_rs.Tokenizer.__call__, roberta_rs.evaluate_ner,
                roberta_rs.FillMaskPipeline, roberta_rs.TokenClassificationPipeline, roberta_rs.TextClassificationPipeline,
                roberta_rs.FeatureExtractionPipeline, roberta_rs.BatchEncoding):
        assert obj.__doc__ and len(obj.__doc__) > 40, obj


def test_installs_in_a_fresh_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-index", "--disable-pip-version-check", WHEEL], check=True)
    code = (
        "import importlib.util, roberta_rs\n"
        "assert importlib.util.find_spec('numpy') is None\n"
        f"fm = roberta_rs.pipeline('fill-mask', model={str(MODELS / 'tiny-mlm')!r})\n"
        "out = fm('El paciente presenta dolor <mask>.')\n"
        "assert len(out) == 5 and isinstance(out[0]['score'], float)\n"
        "print('ok', roberta_rs.__version__)\n"
    )
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr
