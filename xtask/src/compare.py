# Embedded by xtask/src/compare.rs: times the peers on the batch in INPUT — transformers' RobertaModel (f32,
# PyTorch, CPU) and ONNX Runtime on the same model exported to ONNX, in f32 and quantized with
# onnxruntime.quantization.quantize_dynamic (QInt8 weights, its defaults) — each as its users run it: the batch
# padded to its longest sequence, with the attention mask.
# Usage: python3 compare.py MODEL_DIR INPUT.safetensors OUTPUT.safetensors THREADS ITERS ENGINES ONNX_DIR
#   ENGINES: comma-separated, of pytorch, onnxruntime-f32, onnxruntime-int8 (or `reference`: none timed).
#   ONNX_DIR: where the exports are cached (model.onnx, model_int8.onnx; made when missing, by torch.onnx.export).
# Protocol: prints {"ready": ...} once loaded (every engine's last_hidden_state written to OUTPUT, one tensor per
# engine, and HF's as `reference`), then for every "go ENGINE" line on stdin runs ITERS timed forwards of that engine and prints one JSON
# line with the best time, so that the runner interleaves its rounds with ours (the sandbox is shared:
# interleaving and best-of keep the comparison fair); it also reports the process CPU seconds per forward.
import json, os, sys, time

model_dir, inp, outp, threads, iters, engines, onnx_dir = sys.argv[1:8]
threads, iters, engines = int(threads), int(iters), engines.split(",")

import torch
from safetensors.torch import load_file, save_file

torch.set_num_threads(threads)
torch.set_num_interop_threads(1)
d = load_file(inp)
ids, mask = d["input_ids"], d["attention_mask"]
info = {"ready": True, "torch": torch.__version__, "threads": threads}
outputs, runners = {}, {}


def load_torch(attn):
    from transformers import RobertaModel

    return RobertaModel.from_pretrained(model_dir, dtype=torch.float32, add_pooling_layer=False,
                                        attn_implementation=attn).eval()


# HF's output is every engine's reference, timed or not ("reference"); "pytorch" times the same model.
model = load_torch("sdpa")
info["attn"] = model.config._attn_implementation


def run_torch():
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=mask).last_hidden_state


outputs["reference"] = run_torch()
if "pytorch" in engines:
    outputs["pytorch"] = outputs["reference"].clone()
    runners["pytorch"] = run_torch
else:
    del model

ort_engines = [e for e in engines if e.startswith("onnxruntime")]
if ort_engines:
    import onnxruntime as ort

    info["onnxruntime"] = ort.__version__
    os.makedirs(onnx_dir, exist_ok=True)
    f32_path, int8_path = os.path.join(onnx_dir, "model.onnx"), os.path.join(onnx_dir, "model_int8.onnx")
    if not os.path.exists(f32_path):
        # What optimum's exporter does for a feature-extraction RobertaModel: eager attention, dynamic batch and
        # sequence axes. Traced on a padded example so that no "mask is all ones" shortcut is baked in.
        class Wrap(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask):
                return self.m(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)[0]

        ex_ids = torch.full((2, 16), 5, dtype=torch.long)
        ex_mask = torch.ones(2, 16, dtype=torch.long)
        ex_mask[1, 9:] = 0
        axes = {0: "batch", 1: "sequence"}
        print(f"exporting {model_dir} to {f32_path} (torch.onnx.export, opset 17)", file=sys.stderr, flush=True)
        torch.onnx.export(Wrap(load_torch("eager")), (ex_ids, ex_mask), f32_path + ".tmp",
                          input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
                          opset_version=17, dynamo=False)
        os.replace(f32_path + ".tmp", f32_path)
    if "onnxruntime-int8" in engines and not os.path.exists(int8_path):
        from onnxruntime.quantization import QuantType, quantize_dynamic

        print(f"quantizing to {int8_path} (quantize_dynamic, QInt8 weights)", file=sys.stderr, flush=True)
        quantize_dynamic(f32_path, int8_path + ".tmp.onnx", weight_type=QuantType.QInt8)
        os.replace(int8_path + ".tmp.onnx", int8_path)
    feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    for e in ort_engines:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = int8_path if e == "onnxruntime-int8" else f32_path
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        runners[e] = (lambda s: lambda: s.run(None, feeds)[0])(sess)
        outputs[e] = torch.from_numpy(runners[e]())

save_file({k: v.float().contiguous() for k, v in outputs.items()}, outp)
print(json.dumps(info), flush=True)
for line in sys.stdin:
    words = line.split()
    if len(words) != 2 or words[0] != "go" or words[1] not in runners:
        break
    run = runners[words[1]]
    times = []
    c0 = time.process_time()
    for _ in range(iters):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    cpu = (time.process_time() - c0) / iters
    print(json.dumps({"best_s": min(times), "mean_s": sum(times) / len(times), "cpu_s": cpu}), flush=True)
