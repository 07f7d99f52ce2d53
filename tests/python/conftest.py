"""Shared paths and readers of the pytest suite (run by `cargo xtask python-test`, a step of `cargo xtask test`).

The suite checks the installed roberta_rs wheel against the HF references in tests/fixtures (the records the
Rust tests use); it reads nothing outside the repository."""
import json
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
MODELS = FIXTURES / "models"
REFERENCE = FIXTURES / "reference"


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def roberta_rs():
    import roberta_rs as m

    # the installed wheel, not a source tree
    assert "site-packages" in m.__file__, m.__file__
    return m
