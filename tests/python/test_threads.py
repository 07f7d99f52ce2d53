"""One pipeline object called from many Python threads gives what sequential calls give, and the GIL is released
while Rust computes (another thread runs Python meanwhile)."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import MODELS, REFERENCE, jsonl


def test_one_pipeline_many_threads(roberta_rs):
    texts = sorted({r["text"] for r in jsonl(REFERENCE / "ner_pipeline.jsonl")})
    ner = roberta_rs.pipeline("ner", model=MODELS / "tiny-ner", aggregation_strategy="simple")
    want = [ner(t) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(ner, texts * 4))
    assert got == want * 4
    tok = ner.tokenizer
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda t: tok(t)["input_ids"], texts))
    assert ids == [tok(t)["input_ids"] for t in texts]


def test_the_gil_is_released_while_rust_computes(roberta_rs):
    ner = roberta_rs.pipeline("ner", model=MODELS / "tiny-ner", batch_size=64)
    text = "En la analítica destacaba únicamente una moderada hiperglucemia y una ligera elevación de transaminasas."
    batch = [text] * 64
    t0 = time.perf_counter()
    ner(batch)
    one = time.perf_counter() - t0
    # a call long enough to watch: ~1 s
    batch = batch * max(1, int(1.0 / max(one, 1e-3)))
    started = threading.Event()

    def work():
        started.set()
        ner(batch)

    t = threading.Thread(target=work)
    t.start()
    started.wait()
    time.sleep(0.1)  # the worker is inside Rust now
    spins = 0
    end = time.perf_counter() + 0.2
    while time.perf_counter() < end:
        spins += 1
    # with the GIL held by the worker, this loop could only run after its call returned
    alive = t.is_alive()
    t.join()
    assert alive, f"the worker finished before the main thread ran 0.2 s of Python ({spins} spins): the GIL was held"
    assert spins > 1000
