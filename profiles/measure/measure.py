#!/usr/bin/env python3
"""Measure per-slice model latencies on the current GPU / MIG instance and write rows in the
mig-replay profile schema (Parquet): gpu, slice, model, batch, latency_ms, source, memory_mb, origin.

Run it once per MIG instance (see README.md next to this file), e.g.

    CUDA_VISIBLE_DEVICES=MIG-<uuid> python3 measure.py --gpu A100-80GB --slice 3g.40gb \
        --model resnet50 --out my-a100.parquet --append

Requires torch (+ torchvision for CNNs/ViT, transformers for BERT) and pyarrow. `--fake` writes
the same rows with synthetic latencies and needs neither torch nor a GPU: it exists to test the
output against the loader (profiles/measure/fixture.parquet is made that way).
"""
import argparse
import os
import statistics
import sys
import time

MODELS = ["resnet50", "mobilenet-v2", "vit-b", "bert-base"]
DEFAULT_BATCHES = list(range(1, 33)) + [64, 128, 256]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gpu", required=True, help="catalog name, e.g. A100-80GB (see `mig-replay gpu list`)")
    p.add_argument("--slice", default=None, help="MIG profile, e.g. 3g.40gb; default: read from the device name")
    p.add_argument("--model", required=True, choices=MODELS)
    p.add_argument("--batches", default=",".join(map(str, DEFAULT_BATCHES)), help="comma-separated batch sizes")
    p.add_argument("--seq-len", type=int, default=64, help="sequence length for bert-base")
    p.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--iters", type=int, default=50, help="timed iterations per batch (median reported)")
    p.add_argument("--out", required=True, help="output .parquet")
    p.add_argument("--append", action="store_true", help="merge into an existing file (replacing equal keys)")
    p.add_argument("--fake", action="store_true", help="synthetic latencies, no torch/GPU (for tests)")
    return p.parse_args(argv)


def slice_from_device_name(name):
    # MIG devices are named like "NVIDIA A100-SXM4-80GB MIG 3g.40gb".
    for tok in name.split():
        if "g." in tok and tok[0].isdigit():
            return tok
    return None


def build_model(name, precision, seq_len):
    import torch

    if name == "bert-base":
        from transformers import BertConfig, BertModel

        model = BertModel(BertConfig())  # bert-base-uncased geometry; weights do not change timing
        make_input = lambda b: {"input_ids": torch.randint(0, 30000, (b, seq_len), device="cuda")}
    else:
        import torchvision.models as tvm

        ctor = {"resnet50": tvm.resnet50, "mobilenet-v2": tvm.mobilenet_v2, "vit-b": tvm.vit_b_16}[name]
        model = ctor(weights=None)
        dtype = torch.float16 if precision == "fp16" else torch.float32
        make_input = lambda b: {"x": torch.randn(b, 3, 224, 224, device="cuda", dtype=dtype)}
    model = model.eval().cuda()
    if precision == "fp16":
        model = model.half()
    return model, make_input


def time_batches(args, batches):
    """Yield (batch, median latency ms, peak memory MB) measured with CUDA events."""
    import torch

    model, make_input = build_model(args.model, args.precision, args.seq_len)
    with torch.inference_mode():
        for b in batches:
            inp = make_input(b)
            torch.cuda.reset_peak_memory_stats()
            for _ in range(args.warmup):
                model(**inp)
            torch.cuda.synchronize()
            times = []
            for _ in range(args.iters):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                model(**inp)
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            yield b, statistics.median(times), torch.cuda.max_memory_allocated() / 2**20


def fake_batches(args, batches):
    gpcs = int(args.slice.split("g.")[0])
    for b in batches:
        yield b, (2.0 + 0.5 * b) * 7.0 / gpcs, 500.0 + 10.0 * b


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import pyarrow as pa
    import pyarrow.parquet as pq

    batches = sorted({int(x) for x in args.batches.split(",") if x.strip()})
    if not batches or batches[0] < 1:
        sys.exit("error: --batches must list integers >= 1")
    if args.fake:
        if not args.slice:
            sys.exit("error: --fake needs --slice")
        rows = list(fake_batches(args, batches))
        source, origin = "modeled", "profiles/measure/measure.py --fake (synthetic, for tests)"
    else:
        import torch

        if not torch.cuda.is_available():
            sys.exit("error: no CUDA device visible (set CUDA_VISIBLE_DEVICES to a MIG instance UUID)")
        name = torch.cuda.get_device_name(0)
        args.slice = args.slice or slice_from_device_name(name)
        if not args.slice:
            sys.exit(f"error: device '{name}' is not a MIG instance; pass --slice (e.g. 7g.80gb for a whole GPU)")
        rows = list(time_batches(args, batches))
        source = "measured"
        origin = (f"profiles/measure/measure.py on {name}, torch {torch.__version__}, {args.precision}, "
                  f"median of {args.iters} after {args.warmup} warm-up, {time.strftime('%Y-%m-%d')}")
    new = pa.table({
        "gpu": [args.gpu] * len(rows),
        "slice": [args.slice] * len(rows),
        "model": [args.model] * len(rows),
        "batch": pa.array([r[0] for r in rows], pa.int32()),
        "latency_ms": pa.array([float(r[1]) for r in rows], pa.float64()),
        "source": [source] * len(rows),
        "memory_mb": pa.array([float(r[2]) for r in rows], pa.float64()),
        "origin": [origin] * len(rows),
    })
    if args.append and os.path.exists(args.out):
        old = pq.read_table(args.out).select(new.column_names).cast(new.schema)
        keys = {(g, s, m, b) for g, s, m, b in zip(*(new[c].to_pylist() for c in ["gpu", "slice", "model", "batch"]))}
        keep = [(g, s, m, b) not in keys for g, s, m, b in zip(*(old[c].to_pylist() for c in ["gpu", "slice", "model", "batch"]))]
        new = pa.concat_tables([old.filter(pa.array(keep)), new])
    tmp = args.out + ".tmp"
    pq.write_table(new, tmp)
    os.replace(tmp, args.out)
    print(f"wrote {len(rows)} rows ({args.gpu} {args.slice} {args.model}) to {args.out}; {new.num_rows} rows in the file")


if __name__ == "__main__":
    main()
