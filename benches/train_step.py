"""PyTorch's training step on the same shapes as crates/roberta-train/examples/train_step.rs: a
RobertaForTokenClassification (7 labels) from DIR, train mode (dropout on), random ids, loss, backward,
clip_grad_norm_(1.0), AdamW (Trainer's groups, weight decay 0.01). Prints one JSON line like the Rust example.
Run by `cargo xtask train-bench` with torch from .tools/pyenv and the same number of threads."""
import json
import resource
import sys
import time

import torch
from transformers import RobertaForTokenClassification
from transformers.utils import logging

logging.set_verbosity_error()


def main():
    d, batch, seq, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = RobertaForTokenClassification.from_pretrained(d, num_labels=7, ignore_mismatched_sizes=True, attn_implementation="sdpa")
    m.train()
    vocab = m.config.vocab_size
    ids = torch.randint(3, vocab, (batch, seq))
    ids[:, 0] = 0
    labels = torch.randint(0, 7, (batch, seq))
    labels[:, 0] = -100
    mask = torch.ones_like(ids)
    decay = [p for n, p in m.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in m.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=5e-5)

    def step():
        opt.zero_grad()
        loss = m(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        return loss.item()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    ms = (time.perf_counter() - t0) * 1e3 / steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"engine": "pytorch", "batch": batch, "seq": seq, "steps": steps, "ms_per_step": ms,
                      "tokens_per_s": batch * seq / (ms / 1e3), "peak_rss_mb": rss, "loss": loss, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
