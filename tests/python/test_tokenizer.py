"""Tokenizer.from_pretrained against the HF tokenizer cases of tests/fixtures/tokenizers (AutoTokenizer's ids,
offsets, token types, word ids, tokens and decoded text), and BatchEncoding's shape as transformers gives it."""
import pytest

from conftest import FIXTURES, MODELS, jsonl

CASES = [
    ("tokenizers/roberta-bne", "roberta-bne"),
    ("tokenizers/roberta-base", "roberta-base"),
    ("tokenizers/wordpiece-cased-es", "wordpiece-cased-es"),
    ("tokenizers/wordpiece-uncased-es", "wordpiece-uncased-es"),
    ("tokenizers/minilm-uncased", "minilm-uncased"),
    ("tokenizers/unigram-xlmr-es", "unigram-xlmr-es"),
    ("tokenizers/unigram-identity-es", "unigram-identity-es"),
    ("models/tiny-mlm", "tiny-clinical"),
]


@pytest.mark.parametrize("directory,name", CASES)
def test_tokenizer_matches_hf_cases(roberta_rs, directory, name):
    tok = roberta_rs.Tokenizer.from_pretrained(FIXTURES / directory)
    cases = jsonl(FIXTURES / "tokenizers" / f"{name}.cases.jsonl")
    assert len(cases) > 250
    for c in cases:
        kw = dict(add_special_tokens=c.get("add_special_tokens", True), return_offsets_mapping=True, return_token_type_ids=True)
        if "max_length" in c:
            kw.update(truncation=True, max_length=c["max_length"])
        if "words" in c:
            enc = tok(c["words"], is_split_into_words=True, **kw)
        elif c.get("text_pair"):
            enc = tok(c["text"], c["text_pair"], **kw)
        else:
            enc = tok(c["text"], **kw)
        assert enc["input_ids"] == c["input_ids"], c
        assert [list(o) for o in enc["offset_mapping"]] == c["offsets"], c
        assert enc["attention_mask"] == [1] * len(c["input_ids"])
        if "token_type_ids" in c:
            assert enc["token_type_ids"] == c["token_type_ids"], c
        if "word_ids" in c:
            assert enc.word_ids() == c["word_ids"], c
        if "tokens" in c:
            assert enc.tokens() == c["tokens"] and tok.convert_ids_to_tokens(c["input_ids"]) == c["tokens"]
        if "decoded" in c:
            assert tok.decode(c["input_ids"], skip_special_tokens=True) == c["decoded"], c


def test_batch_encoding_as_transformers(roberta_rs):
    import numpy as np

    tok = roberta_rs.Tokenizer.from_pretrained(MODELS / "tiny-mlm")
    one = tok("Paciente con fiebre.")
    assert list(one) == ["input_ids", "attention_mask"]  # RoBERTa: no token_type_ids, offsets only when asked
    assert one.input_ids == one["input_ids"] and one["input_ids"][0] == tok.cls_token_id == 0
    assert one.word_ids() == [None, 0, 0, 1, 2, 3, None]
    assert tok.tokenize("Paciente con fiebre.") == ["ĠPa", "ciente", "Ġcon", "Ġfiebre", "."]
    assert tok.encode("Paciente con fiebre.") == one["input_ids"]
    assert tok.decode(one["input_ids"]) == "<s> Paciente con fiebre.</s>"
    assert tok.batch_decode([one["input_ids"]], skip_special_tokens=True) == [" Paciente con fiebre."]
    batch = tok(["Dolor.", "Paciente con fiebre."], padding=True, return_offsets_mapping=True)
    assert [len(x) for x in batch["input_ids"]] == [7, 7]
    assert batch["input_ids"][0][-1] == tok.pad_token_id and batch["attention_mask"][0][-1] == 0
    assert batch["offset_mapping"][0][-1] == (0, 0) and batch.word_ids(0)[-1] is None
    arr = tok(["Dolor.", "Paciente con fiebre."], padding="max_length", max_length=12, return_tensors="np")
    assert arr["input_ids"].shape == (2, 12) and arr["input_ids"].dtype == np.int64
    with pytest.raises(ValueError, match="padding=True"):
        tok(["Dolor.", "Paciente con fiebre."], return_tensors="np")
    cut = tok("Paciente con fiebre alta y tos.", truncation=True, max_length=5)
    assert len(cut["input_ids"]) == 5 and cut["input_ids"][-1] == tok.eos_token_id
    with pytest.warns(UserWarning, match="Truncation was not explicitly activated"):
        assert len(tok("Paciente con fiebre alta y tos.", max_length=5)["input_ids"]) == 5
    pair = tok("Dolor.", "Fiebre.")
    assert pair.sequence_ids() == [None, 0, 0, None, None, 1, 1, 1, None]  # <s> ĠDolor . </s></s> ĠFi ebre . </s>
    bert = roberta_rs.Tokenizer.from_pretrained(MODELS / "bert-mlm")
    assert "token_type_ids" in bert("Dolor.", "Fiebre.")
    assert tok.mask_token == "<mask>" and tok.convert_tokens_to_ids("<mask>") == tok.mask_token_id
    assert tok.convert_tokens_to_ids("zzzz-not-a-token") == tok.unk_token_id
    assert len(tok) == tok.vocab_size > 1000
    with pytest.raises(FileNotFoundError):
        roberta_rs.Tokenizer.from_pretrained(FIXTURES / "absent")
    with pytest.raises(TypeError):
        tok(123)
    # the pipeline's tokenizer is the model's
    fm = roberta_rs.pipeline("fill-mask", model=MODELS / "tiny-mlm")
    assert fm.tokenizer("Paciente con fiebre.") == one


def test_malformed_vocabulary_is_a_value_error(roberta_rs, tmp_path):
    for f in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (tmp_path / f).write_bytes((MODELS / "tiny-mlm" / f).read_bytes())
    (tmp_path / "merges.txt").write_text("#version: 0.2\nĠ\n")
    with pytest.raises(ValueError, match="merges.txt"):
        roberta_rs.Tokenizer.from_pretrained(tmp_path)
