# Embedded by xtask/src/compare.rs: times transformers' RobertaModel (f32, CPU) on the batch in INPUT.
# Usage: python3 compare.py MODEL_DIR INPUT.safetensors OUTPUT.safetensors THREADS ITERS
# Protocol: prints {"ready": ...} once loaded, then for every "go" line on stdin runs ITERS timed
# forwards and prints one JSON line with the best time, so that the runner can interleave its rounds
# with ours (the sandbox is shared: interleaving and best-of keep the comparison fair); it also reports
# the process CPU seconds per forward, a figure that contention from other processes barely moves.
import json, sys, time
import torch
from safetensors.torch import load_file, save_file
from transformers import RobertaModel

model_dir, inp, outp, threads, iters = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
d = load_file(inp)
ids, mask = d["input_ids"], d["attention_mask"]
model = RobertaModel.from_pretrained(model_dir, dtype=torch.float32, add_pooling_layer=False).eval()
with torch.inference_mode():
    out = model(input_ids=ids, attention_mask=mask).last_hidden_state  # warm-up
save_file({"last_hidden_state": out.float().contiguous()}, outp)
print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
                  "attn": getattr(model.config, "_attn_implementation", "?")}), flush=True)
for line in sys.stdin:
    if line.strip() != "go":
        break
    times = []
    c0 = time.process_time()
    with torch.inference_mode():
        for _ in range(iters):
            t0 = time.perf_counter()
            model(input_ids=ids, attention_mask=mask)
            times.append(time.perf_counter() - t0)
    cpu = (time.process_time() - c0) / iters
    print(json.dumps({"best_s": min(times), "mean_s": sum(times) / len(times), "cpu_s": cpu}), flush=True)
