"""evaluate_ner against the HF protocol's seqeval report recorded in tests/fixtures/reference."""
import json

import pytest

from conftest import FIXTURES, MODELS, REFERENCE

DEV = FIXTURES / "corpora" / "pharmaconer" / "dev.txt"


@pytest.mark.parametrize("model,ref", [("tiny-ner", "ner_eval_dev.json"), ("xlmr-ner", "xlmr_ner_eval_dev.json"), ("bert-ner", "bert_ner_eval_dev.json")])
def test_evaluate_ner_matches_seqeval(roberta_rs, model, ref):
    want = json.loads((REFERENCE / ref).read_text())
    got = roberta_rs.evaluate_ner(MODELS / model, DEV)
    assert abs(got["micro_f1"] - want["micro_f1"]) <= 1e-9
    assert set(got["report"]) == set(want["report"])
    for k, w in want["report"].items():
        for m in ("precision", "recall", "f1-score", "support"):
            assert abs(got["report"][k][m] - w[m]) <= 1e-9, (k, m)
    assert got["predictions"] == want["predictions"]
    assert got["unknown_labels"] == {}


def test_evaluate_ner_from_a_pipeline_and_errors(roberta_rs, tmp_path):
    ner = roberta_rs.pipeline("ner", model=MODELS / "tiny-ner")
    got = roberta_rs.evaluate_ner(ner, DEV)
    assert abs(got["micro_f1"] - json.loads((REFERENCE / "ner_eval_dev.json").read_text())["micro_f1"]) <= 1e-9
    with pytest.raises(FileNotFoundError):
        roberta_rs.evaluate_ner(ner, tmp_path / "absent.conll")
    bad = tmp_path / "bad.conll"
    bad.write_text("Dolor\tO\nfiebre\n")
    with pytest.raises(ValueError, match="bad.conll"):
        roberta_rs.evaluate_ner(ner, bad)
    with pytest.raises(ValueError, match="RobertaForTokenClassification"):
        roberta_rs.evaluate_ner(MODELS / "tiny-mlm", DEV)
