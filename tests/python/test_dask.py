"""The Dask runner on a 2-worker LocalCluster (loopback): its output is byte for byte the runner's
(`roberta ner` = `cargo xtask ner`) on the same file, error records included, and annotate() on a bag agrees."""
import json
import os
import subprocess
import sys

import pytest

from conftest import MODELS, REFERENCE, jsonl

ROBERTA = os.environ.get("ROBERTA_BIN")


def corpus(path):
    texts = sorted({r["text"] for r in jsonl(REFERENCE / "ner_pipeline.jsonl")})
    lines = []
    for i, t in enumerate(texts * 2):
        lines.append(json.dumps({"id": f"doc{i}", "text": t, "meta": {"n": i}}, ensure_ascii=False).encode())
        if i == 5:
            lines.append(b'{"id": "broken", "text": ')  # invalid JSON
        if i == 9:
            lines.append(b"")  # blank: skipped
            lines.append(b'["not", "an object"]')
        if i == 14:
            lines.append(b'{"id": "latin1", "text": "Ni\xf1o con fiebre"}')  # not UTF-8
        if i == 20:
            lines.append(b'{"id": "no-text"}')
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    return len(texts) * 2


def test_dask_runner_output_is_the_runners(tmp_path):
    assert ROBERTA and os.path.exists(ROBERTA), "ROBERTA_BIN must name the roberta binary (cargo xtask python-test sets it)"
    src = tmp_path / "notes.jsonl"
    n = corpus(src)
    want = tmp_path / "runner.jsonl"
    got = tmp_path / "dask.jsonl"
    model = str(MODELS / "tiny-ner")
    r = subprocess.run([ROBERTA, "ner", "--model", model, "--aggregation", "first", "--input", str(src), "--output", str(want)], capture_output=True)
    assert r.returncode == 1, r.stderr  # some records fail
    d = subprocess.run(
        [sys.executable, "-m", "roberta_rs.dask", "ner", "--model", model, "--input", str(src), "--output", str(got),
         "--workers", "2", "--partition-size", "7", "--aggregation", "first"],
        capture_output=True,
        cwd=tmp_path,
    )
    assert d.returncode == 1, d.stderr.decode()
    assert got.read_bytes() == want.read_bytes()
    out = [json.loads(line) for line in got.read_text().splitlines()]
    assert sum("error" in o for o in out) == 4 and len(out) == n + 4
    assert any(o.get("entities") for o in out)
    assert f"{n + 4} records (4 failed)" in d.stderr.decode()


def test_dask_runner_errors(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "Dolor."}\n')
    base = [sys.executable, "-m", "roberta_rs.dask"]
    r = subprocess.run(base + ["ner", "--model", str(MODELS / "tiny-ner"), "--input", str(src), "--output", str(tmp_path / "o.jsonl"), "--aggregation", "best"], capture_output=True)
    assert r.returncode == 2 and b"best" in r.stderr
    r = subprocess.run(base + ["ner", "--model", str(MODELS / "tiny-ner"), "--input", str(src), "--output", str(tmp_path / "o.jsonl"), "--input-format", "x"], capture_output=True)
    assert r.returncode == 2 and b"--input-format" in r.stderr
    # the wrong head: a worker's fatal error ends the run (exit 2), no output written
    r = subprocess.run(base + ["ner", "--model", str(MODELS / "tiny-mlm"), "--input", str(src), "--output", str(tmp_path / "o.jsonl"), "--workers", "1"], capture_output=True)
    assert r.returncode == 2 and b"RobertaForTokenClassification" in r.stderr, r.stderr
    assert not (tmp_path / "o.jsonl").exists() and not list(tmp_path.glob(".o.jsonl*"))


def test_annotate_a_bag(tmp_path):
    import dask.bag as db
    from dask.distributed import Client, LocalCluster

    import roberta_rs.dask as rd

    texts = sorted({r["text"] for r in jsonl(REFERENCE / "ner_pipeline.jsonl")})[:12]
    records = [{"id": i, "text": t} for i, t in enumerate(texts)] + ["Dolor torácico.", {"id": "x"}]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster):
        bag = db.from_sequence(records, npartitions=3)
        out = rd.annotate(bag, "ner", model=str(MODELS / "tiny-ner"), aggregation="simple").compute()
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": r} if isinstance(r, str) else r, ensure_ascii=False) + "\n" for r in records))
    r = subprocess.run([ROBERTA, "ner", "--model", str(MODELS / "tiny-ner"), "--aggregation", "simple", "--input", str(src)], capture_output=True)
    want = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [o.get("entities") for o in out] == [w.get("entities") for w in want]
    assert out[-1]["error"].endswith('record has no "text" field') or "text" in out[-1]["error"]
    with pytest.raises(ValueError, match="aggregation"):
        rd.annotate(db.from_sequence(["x"]), "ner", model=str(MODELS / "tiny-ner"), aggregation_strategy="first")
