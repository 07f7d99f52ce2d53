"""Corpus-scale runs on a Dask cluster.

Command line (the runner's record format: JSON Lines in, one output record per input record, in input order)::

    python -m roberta_rs.dask ner --model DIR --input notes.jsonl --output entities.jsonl \\
        [--scheduler ADDRESS | --workers N] [--partition-size N] [--aggregation first ...]

Every option after the Dask ones is the runner's own (``roberta ner --help``): ``--aggregation``, ``--stride``,
``--top-k``, ``--pooling``, ``--normalize``, ``--device``, ``--dtype``, ``--batch-size``... The driver reads the
input in partitions of ``--partition-size`` lines and sends them to the workers (no shared file system needed);
each worker process loads the model once and runs the same code as ``roberta <task>``, so the output is the
runner's byte for byte: the input record with the task's field added, or ``{"line", "error", ...}`` for a record
that fails (exit code 1). Without ``--scheduler`` a ``LocalCluster`` of ``--workers`` processes runs on this
machine; with it, any running Dask cluster (one started by dask-jobqueue on Slurm, ``dask scheduler`` /
``dask worker``, Kubernetes...) whose workers have ``roberta_rs`` installed and can read the model path.

From Python, ``annotate(bag, "ner", model=DIR, aggregation="first")`` maps a Dask bag of records (dicts with a
``"text"``, or plain strings) to a bag of output records (dicts).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import time
from collections import deque
from typing import Any, Deque, Dict, Iterator, List, Optional, Sequence, Tuple

from . import _native

__all__ = ["annotate", "main", "run_partition"]

# one loaded task per command line in each worker process
_TASKS: Dict[Tuple[str, ...], "_native.NativeTask"] = {}
_TASKS_LOCK = threading.Lock()


def _task(args: Sequence[str]) -> "_native.NativeTask":
    key = tuple(args)
    with _TASKS_LOCK:
        t = _TASKS.get(key)
        if t is None:
            t = _native.NativeTask(list(args))
            _TASKS[key] = t
        return t


def run_partition(args: Sequence[str], data: bytes, first_line: int, first_byte: int) -> Tuple[str, int, int, int]:
    """Runs JSON Lines ``data`` (lines ``first_line``... of the input, starting at byte ``first_byte``) through
    the task ``args`` (``["ner", "--model", DIR, ...]``), loading it once per process. Returns the output lines,
    the number of records, of failed records and of truncated ones."""
    return _task(args).run_jsonl(data, first_line, first_byte)


def _argv(task: str, model: str, options: Dict[str, Any]) -> List[str]:
    argv = [task, "--model", os.fspath(model)]
    for k, v in options.items():
        flag = "--" + k.replace("_", "-")
        if v is True:
            argv.append(flag)
        elif v is False or v is None:
            continue
        else:
            argv += [flag, str(v)]
    return argv


def _annotate_partition(records: Sequence[Any], args: Sequence[str]) -> List[Dict[str, Any]]:
    lines = [json.dumps({"text": r} if isinstance(r, str) else r, ensure_ascii=False) for r in records]
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    out, _, _, _ = run_partition(args, data, 1, 0)
    return [json.loads(line) for line in out.splitlines()]


def annotate(bag: Any, task: str, model: str, **options: Any) -> Any:
    """A Dask bag of output records from a bag of input records (dicts with ``"text"``, or strings), as
    ``roberta <task> --model MODEL --<option> <value>...`` writes them (``aggregation="first"`` is
    ``--aggregation first``, ``normalize=True`` is ``--normalize``). A record that fails gives
    ``{"line", "error", ...}`` where ``line`` counts from 1 within its partition."""
    args = _argv(task, model, options)
    _native.check_task_args(args)
    return bag.map_partitions(_annotate_partition, args)


def _partitions(path: str, size: int) -> Iterator[Tuple[int, int, bytes]]:
    """(first line, first byte, data) of each run of ``size`` lines of the file."""
    with open(path, "rb") as f:
        line, byte = 1, 0
        while True:
            chunk = list(itertools.islice(f, size))
            if not chunk:
                return
            data = b"".join(chunk)
            yield line, byte, data
            line += len(chunk)
            byte += len(data)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m roberta_rs.dask",
        description="Run a roberta_rs task over a JSON Lines corpus on a Dask cluster; the output is the runner's "
        "(roberta TASK), in input order. Options not listed here are the task's own (roberta TASK --help).",
    )
    p.add_argument("task", choices=["fill-mask", "ner", "classify", "embed"])
    p.add_argument("--model", required=True, help="model directory or Hub id, as every worker sees it")
    p.add_argument("--input", required=True, help="JSON Lines input")
    p.add_argument("--output", required=True, help="JSON Lines output (written beside, renamed at the end)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    where.add_argument("--workers", type=int, help="worker processes of a LocalCluster (default: 2)")
    p.add_argument("--threads-per-worker", type=int, default=1, help="threads of each LocalCluster worker (default 1)")
    p.add_argument("--partition-size", type=int, default=1000, help="input lines per partition (default 1000)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = _parser()
    a, rest = p.parse_known_args(argv)
    for name in ("partition_size", "threads_per_worker"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if a.workers is not None and a.workers < 1:
        p.error("--workers must be at least 1")
    args = [a.task, "--model", a.model, *rest]
    try:
        _native.check_task_args(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not os.path.isfile(a.input):
        print(f"error: --input {a.input}: no such file", file=sys.stderr)
        return 2
    if os.path.exists(a.output) and os.path.samefile(a.input, a.output):
        print(f"error: --output {a.output} is the input file: refusing to overwrite what is being read", file=sys.stderr)
        return 2
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        print("error: roberta_rs.dask needs dask.distributed: pip install 'dask[distributed]'", file=sys.stderr)
        return 2

    cluster = None
    if a.scheduler:
        client = Client(a.scheduler)
    else:
        n = a.workers or 2
        # the engine's threads per worker: the machine's cores shared out, so workers do not oversubscribe them
        cores = max(1, (os.cpu_count() or 1) // (n * a.threads_per_worker))
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=a.threads_per_worker,
            processes=True,
            dashboard_address=None,
            env={"RAYON_NUM_THREADS": str(cores)},
        )
        client = Client(cluster)
    out_dir = os.path.dirname(os.path.abspath(a.output))
    tmp = os.path.join(out_dir, f".{os.path.basename(a.output)}.{os.getpid()}.tmp")
    t0 = time.time()
    records = failed = warned = 0
    ok = False
    try:
        threads = sum(client.nthreads().values()) or 1
        window: Deque[Any] = deque()
        parts = _partitions(a.input, a.partition_size)
        with open(tmp, "w", encoding="utf-8", newline="\n") as out:
            for part in itertools.chain(parts, [None]):
                if part is not None:
                    line, byte, data = part
                    window.append(client.submit(run_partition, args, data, line, byte, pure=False))
                # in input order; at most two partitions per worker thread in flight
                while window and (part is None or len(window) > 2 * threads):
                    text, n_rec, n_failed, n_warned = window.popleft().result()
                    out.write(text)
                    records += n_rec
                    failed += n_failed
                    warned += n_warned
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, a.output)
        ok = True
    except Exception as e:  # a worker's fatal error (the model, a forward pass), or the cluster's
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if not ok and os.path.exists(tmp):
            os.remove(tmp)
        client.close()
        if cluster is not None:
            cluster.close()
    s = max(time.time() - t0, 1e-9)
    cut = f", {warned} truncated" if warned else ""
    print(f"{a.task}: {records} records ({failed} failed{cut}) in {s:.2f} s: {records / s:.1f} records/s", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    from roberta_rs.dask import main as _main  # the module's functions, not __main__'s, travel to the workers

    sys.exit(_main())
