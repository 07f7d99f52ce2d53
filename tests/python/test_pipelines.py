"""pipeline() against transformers' outputs recorded in tests/fixtures/reference: same keys, types and values
(scores within 5e-5, as the Rust tests: f32 rounding of HF's own logits), identical tokens, words and offsets."""
import json
import math

import pytest

from conftest import MODELS, REFERENCE, jsonl

SCORE_TOL = 5e-5


def close(a, b, tol=SCORE_TOL):
    return abs(a - b) <= tol


@pytest.mark.parametrize("model,ref", [("tiny-mlm", "fill_mask.jsonl"), ("xlmr-mlm", "xlmr_fill_mask.jsonl"), ("bert-mlm", "bert_fill_mask.jsonl")])
def test_fill_mask_matches_hf(roberta_rs, model, ref):
    records = jsonl(REFERENCE / ref)
    fm = roberta_rs.pipeline("fill-mask", model=MODELS / model, top_k=5)
    texts = [r["text"] for r in records]
    got = fm(texts)
    assert isinstance(got, list) and len(got) == len(records)
    for r, g in zip(records, got):
        want = r["predictions"]
        assert [p["token"] for p in g] == [p["token"] for p in want], r["text"]
        for gp, wp in zip(g, want):
            assert list(gp) == ["score", "token", "token_str", "sequence"]
            assert type(gp["score"]) is float and type(gp["token"]) is int
            assert gp["token_str"] == wp["token_str"] and gp["sequence"] == wp["sequence"]
            assert close(gp["score"], wp["score"]), (gp, wp)
    # one str gives what transformers gives for one str; a list of one, the same (transformers' own rule)
    one = fm(texts[0])
    assert one == got[0] and fm([texts[0]]) == got[0]


def test_fill_mask_options_and_errors(roberta_rs):
    fm = roberta_rs.pipeline("fill-mask", model=MODELS / "tiny-mlm")
    assert len(fm("Dolor <mask>.")) == 5
    assert len(fm("Dolor <mask>.", top_k=2)) == 2  # per call, as transformers
    two = fm("Dolor <mask> en el <mask>.", top_k=3)
    assert len(two) == 2 and all(len(m) == 3 for m in two)
    with pytest.raises(ValueError, match="no mask token"):
        fm("Dolor de cabeza.")
    with pytest.raises(ValueError, match="input 1: no mask token"):
        fm(["Dolor <mask>.", "sin máscara"])
    with pytest.raises(ValueError, match="top_k"):
        fm("Dolor <mask>.", top_k=0)
    with pytest.raises(TypeError, match="targets"):
        fm("Dolor <mask>.", targets=["fiebre"])
    with pytest.raises(TypeError):
        fm(42)
    with pytest.raises(TypeError):
        fm({"text": "Dolor <mask>."})  # a dict is text-classification's pair input, not a batch
    # a generator gives an iterator of results
    it = fm(t for t in ["Dolor <mask>.", "Fiebre <mask>."])
    assert not isinstance(it, list) and len(list(it)) == 2


@pytest.mark.parametrize("model,ref", [("tiny-ner", "ner_pipeline.jsonl"), ("xlmr-ner", "xlmr_ner_pipeline.jsonl"), ("bert-ner", "bert_ner_pipeline.jsonl")])
def test_token_classification_matches_hf(roberta_rs, model, ref):
    records = jsonl(REFERENCE / ref)
    by_strategy = {}
    for r in records:
        by_strategy.setdefault(r["aggregation_strategy"], []).append(r)
    assert set(by_strategy) == {"none", "simple", "first", "average", "max"}
    ner = roberta_rs.pipeline("token-classification", model=MODELS / model)
    for strategy, recs in by_strategy.items():
        got = ner([r["text"] for r in recs], aggregation_strategy=strategy)
        for r, g in zip(recs, got):
            want = r["entities"]
            assert len(g) == len(want), (strategy, r["text"], g, want)
            for ge, we in zip(g, want):
                key = "entity" if strategy == "none" else "entity_group"
                expect_keys = [key, "score", "index", "word", "start", "end"] if strategy == "none" else [key, "score", "word", "start", "end"]
                assert list(ge) == expect_keys
                assert ge[key] == we[key] and ge["word"] == we["word"]
                assert (ge["start"], ge["end"]) == (we["start"], we["end"])
                assert type(ge["score"]) is float and close(ge["score"], we["score"]), (ge, we)


def test_token_classification_options(roberta_rs):
    text = "En la analítica destacaba únicamente una moderada hiperglucemia y una ligera elevación de transaminasas."
    ner = roberta_rs.pipeline("ner", model=MODELS / "tiny-ner", aggregation_strategy="first")
    ents = ner(text)
    assert ents and all("entity_group" in e for e in ents)
    for e in ents:  # character offsets: Python slices the entity
        assert text[e["start"]:e["end"]].strip() == e["word"].strip()
    assert ner([text, "Dolor."]) == [ents, []]
    # long texts: windows with a stride, nothing cut
    long = " ".join([text] * 60)
    many = ner(long, stride=64)
    assert len(many) >= 60 and max(e["end"] for e in many) > len(long) - 20
    with pytest.raises(ValueError, match="stride"):
        ner(long, aggregation_strategy="none", stride=64)
    # ignore_labels beyond O
    assert ner(text, ignore_labels=["O", "PROTEINAS"]) == [e for e in ents if e["entity_group"] != "PROTEINAS"]
    with pytest.raises(ValueError, match="aggregation"):
        ner(text, aggregation_strategy="longest")


@pytest.mark.parametrize("model,ref", [("xlmr-cls", "xlmr_cls_pipeline.jsonl"), ("bert-cls", "bert_cls_pipeline.jsonl")])
def test_text_classification_matches_hf(roberta_rs, model, ref):
    records = jsonl(REFERENCE / ref)
    cls = roberta_rs.pipeline("text-classification", model=MODELS / model)
    inputs = [{"text": r["text"], "text_pair": r["text_pair"]} if "text_pair" in r else r["text"] for r in records]
    got = cls(inputs, top_k=None)
    assert any("text_pair" in r for r in records)
    for r, g in zip(records, got):
        want = r["predictions"]
        assert [x["label"] for x in g] == [x["label"] for x in want]
        assert all(list(x) == ["label", "score"] and type(x["score"]) is float for x in g)
        assert all(close(a["score"], b["score"]) for a, b in zip(g, want))
    # transformers' shapes without top_k: a str gives [best], a dict gives best, a list one best per input
    best = [r["predictions"][0]["label"] for r in records]
    plain = [i for i, r in enumerate(records) if "text_pair" not in r]
    pair = [i for i, r in enumerate(records) if "text_pair" in r]
    one = cls(inputs[plain[0]])
    assert isinstance(one, list) and len(one) == 1 and one[0]["label"] == best[plain[0]]
    d = cls(inputs[pair[0]])
    assert isinstance(d, dict) and d["label"] == best[pair[0]]
    flat = cls(inputs)
    assert [x["label"] for x in flat] == best
    assert [len(x) for x in cls(inputs[:3], top_k=2)] == [2, 2, 2]


def test_text_classification_function_to_apply(roberta_rs):
    cls = roberta_rs.pipeline("text-classification", model=MODELS / "xlmr-cls", top_k=None)
    soft = cls("Dolor torácico.")
    assert close(sum(x["score"] for x in soft), 1.0, 1e-5)
    raw = cls("Dolor torácico.", function_to_apply="none")
    sig = cls("Dolor torácico.", function_to_apply="sigmoid")
    logits = {x["label"]: x["score"] for x in raw}
    for x in sig:
        assert close(x["score"], 1 / (1 + math.exp(-logits[x["label"]])), 1e-6)
    z = sum(math.exp(v) for v in logits.values())
    for x in soft:
        assert close(x["score"], math.exp(logits[x["label"]]) / z, 1e-6)
    with pytest.raises(ValueError, match="function_to_apply"):
        cls("Dolor.", function_to_apply="relu")


def test_feature_extraction_matches_hf(roberta_rs):
    import numpy as np

    ref = json.loads((REFERENCE / "feature_extraction.json").read_text())
    texts = [r["text"] for r in ref["records"]]
    fe = roberta_rs.pipeline("feature-extraction", model=MODELS / "tiny-mlm")
    nested = fe(texts)
    arrays = fe(texts, return_tensors="np")
    for r, n, a in zip(ref["records"], nested, arrays):
        want = np.asarray(r["tokens"], dtype=np.float64)
        assert isinstance(n, list) and isinstance(n[0][0][0], float)
        assert np.asarray(n).shape == want.shape and a.shape == want.shape and a.dtype == np.float32
        assert np.abs(a - want).max() <= 1e-4
        assert np.array_equal(np.asarray(n, dtype=np.float32), a)
    for pooling in ("mean", "cls"):
        for normalize in (False, True):
            got = fe(texts, pooling=pooling, normalize=normalize, return_tensors="np")
            key = pooling + ("_normalized" if normalize else "")
            for r, g in zip(ref["records"], got):
                assert g.shape == (128,)
                assert np.abs(g - np.asarray(r[key])).max() <= 1e-4, (pooling, normalize)
    one = fe(texts[0], pooling="mean")
    assert isinstance(one, list) and len(one) == 128
    with pytest.raises(ValueError, match="normalize"):
        fe(texts[0], normalize=True)
    with pytest.raises(ValueError, match="pooling|mean"):
        fe(texts[0], pooling="max")


def test_errors_are_python_exceptions(roberta_rs, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        roberta_rs.pipeline("ner", model=tmp_path / "absent")
    with pytest.raises(ValueError, match="needs a RobertaForTokenClassification"):
        roberta_rs.pipeline("ner", model=MODELS / "tiny-mlm")
    with pytest.raises(ValueError, match="unknown task"):
        roberta_rs.pipeline("summarization", model=MODELS / "tiny-mlm")
    with pytest.raises(TypeError, match="unexpected keyword"):
        roberta_rs.pipeline("fill-mask", model=MODELS / "tiny-mlm", aggregation_strategy="first")
    with pytest.raises(ValueError, match="device"):
        roberta_rs.pipeline("fill-mask", model=MODELS / "tiny-mlm", device="tpu")
    with pytest.raises(ValueError, match="dtype"):
        roberta_rs.pipeline("fill-mask", model=MODELS / "tiny-mlm", dtype="float16")
    # a directory without weights, a corrupt checkpoint
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in ("config.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (bad / f).write_bytes((MODELS / "tiny-mlm" / f).read_bytes())
    with pytest.raises(FileNotFoundError):
        roberta_rs.pipeline("fill-mask", model=bad)
    (bad / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(ValueError, match="model.safetensors"):
        roberta_rs.pipeline("fill-mask", model=bad)
    # int8 runs (the CPU's int8 linear layers) and still finds the same top token
    q = roberta_rs.pipeline("fill-mask", model=MODELS / "tiny-mlm", dtype="int8")
    assert len(q("Dolor <mask>.")) == 5


def test_cuda_without_a_gpu_is_a_runtime_error_not_a_crash(roberta_rs):
    try:
        p = roberta_rs.pipeline("fill-mask", model=MODELS / "tiny-mlm", device="cuda")
    except RuntimeError as e:
        assert str(e)
    else:  # a machine with a GPU
        assert len(p("Dolor <mask>.")) == 5
