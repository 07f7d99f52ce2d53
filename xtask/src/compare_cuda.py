# Embedded by xtask/src/compare_cuda.rs: transformers' RobertaModel in f16 on the GPU (eager attention, and
# sdpa), and torch.nn.functional.scaled_dot_product_attention on the same fused QKV our kernel gets.
# Usage: python3 compare_cuda.py MODEL_DIR INPUT.safetensors OUTPUT.safetensors ITERS HEADS
import json, sys, time
import torch
from safetensors.torch import load_file, save_file
from transformers import RobertaModel

model_dir, inp, outp, iters, heads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
dev = torch.device("cuda")
d = load_file(inp)
ids, mask = d["input_ids"].to(dev), d["attention_mask"].to(dev)


def best_of(f):
    f()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        f()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


res = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0)}
out = {}
with torch.inference_mode():
    for impl in ["eager", "sdpa"]:
        m = RobertaModel.from_pretrained(model_dir, dtype=torch.float16, add_pooling_layer=False,
                                         attn_implementation=impl).to(dev).eval()
        h = m(input_ids=ids, attention_mask=mask).last_hidden_state
        out[f"last_hidden_state_{impl}"] = h.float().cpu().contiguous()
        res[f"{impl}_best_s"] = best_of(lambda: m(input_ids=ids, attention_mask=mask))
        del m
        torch.cuda.empty_cache()
    # Attention alone: qkv [B, T, 3H] (f16) → SDPA per head → [B, T, H].
    qkv = d["qkv"].to(dev)
    b, t, h3 = qkv.shape
    hd = h3 // 3 // heads
    q, k, v = (x.view(b, t, heads, hd).transpose(1, 2) for x in qkv.split(h3 // 3, dim=-1))
    f = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v)
    o = f().transpose(1, 2).reshape(b, t, heads * hd)
    out["attention"] = o.float().cpu().contiguous()
    res["sdpa_attention_best_s"] = best_of(f)
save_file(out, outp)
print(json.dumps(res))
