"""Every check lstmkit needs a GPU for, in one prepared script: run it once on a GPU machine.

    python benchmarks/gpu_checks.py --json gpu_checks.json            # every check, 3 timing rounds
    python benchmarks/gpu_checks.py --quick                           # the checks, small timing workloads

Not yet run on a GPU (none was available when it was written): expect a few minutes, most of it W2.

1. **cuDNN parity.** Each cell (LSTM, GRU, SimpleRNN) through lstmkit's dispatch seam
   (lstmkit.ops.dispatch, backend "torch": cuDNN on a GPU) against the reference equations
   (lstmkit/ops/reference.py) run on the CPU in float64: the outputs, the final states and the
   gradients of the inputs, the initial state and every weight. float32 with TF32 turned off
   passes at max|a - b| <= 2e-5 * (1 + max|reference|) forward and 1e-4 * (1 + ...) for gradients;
   float64 at 1e-10 (cuDNN runs double RNNs; if this PyTorch refuses, the row says so).
2. **Masking on cuDNN.** A padded batch with a mask of real steps (what `lengths=` makes) gives
   each sequence the outputs and final state it gets alone, unpadded; padded steps output zeros.
   The same through `Sequential.predict(x, lengths=...)` on the GPU.
3. **DDP with nccl.** `torchrun --standalone --nproc_per_node=N` (N = the GPUs, at most 2) of this
   script's worker: `Sequential.fit(device="cuda")` under torchrun, whose weights must equal a
   plain process's run (N=1) or agree across ranks (N=2); and lstmkit.distributed's helpers on an
   nccl group: DistributedDataParallel from `wrap`, one training step, `all_sum`, `all_gather_tensors`.
   With one process lstmkit's fit trains alone (data-parallel needs WORLD_SIZE > 1), so on one GPU
   the second part is what exercises DDP and nccl.
4. **Timings** of W2 (fit) and W3 (training step, forward) as lstmkit.bench defines them, through
   lstmkit and idiomatic PyTorch (nn.LSTM + nn.Linear, torch.optim.Adam) on the same GPU, rounds
   in rotating order, median (min-max) and the median of the rounds' ratios pytorch/lstmkit
   (above 1: lstmkit faster).

Without a GPU it prints "no GPU here", runs what it can on the CPU (the parity and masking checks
with PyTorch's CPU kernels in place of cuDNN, which proves the harness runs) and exits 0. It exits 1
when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch

from lstmkit.ops import dispatch

FORWARD_TOLERANCE = {torch.float32: 2e-5, torch.float64: 1e-10}
GRADIENT_TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-10}
CELLS = ("lstm", "gru", "simple_rnn")
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}


def cuda_available() -> bool:
    return torch.cuda.is_available()


# -- 1. parity: a cell on one backend and device against the reference equations in float64 on the CPU
@dataclass
class Parity:
    cell: str
    device: str
    dtype: str
    worst: dict[str, float]  # tensor name -> max|a - b| / (1 + max|reference|)
    tolerance_forward: float
    tolerance_gradient: float
    passed: bool
    error: str | None = None


def cell_weights(cell: str, features: int, units: int, seed: int) -> dict[str, np.ndarray]:
    """Keras-layout weights of one cell (float64), scaled so the gates are not saturated."""
    rng = np.random.default_rng(seed)
    width = GATES[cell] * units
    bias_shape = (2, width) if cell == "gru" else (width,)
    return {"kernel": rng.normal(0, 0.5, (features, width)), "recurrent_kernel": rng.normal(0, 0.5, (units, width)),
            "bias": rng.normal(0, 0.2, bias_shape)}


def run_cell(cell: str, tensors: dict[str, torch.Tensor], backend: str, mask: torch.Tensor | None = None
             ) -> dict[str, torch.Tensor]:
    """Outputs and final state(s) of one cell through lstmkit's dispatch seam."""
    x, h0 = tensors["x"], tensors["h0"]
    weights = (tensors["kernel"], tensors["recurrent_kernel"], tensors["bias"])
    if cell == "lstm":
        outputs, h, c = dispatch.lstm_forward(x, h0, tensors["c0"], *weights, backend=backend, mask=mask)
        return {"outputs": outputs, "h_T": h, "c_T": c}
    forward = dispatch.gru_forward if cell == "gru" else dispatch.simple_rnn_forward
    outputs, h = forward(x, h0, *weights, backend=backend, mask=mask)
    return {"outputs": outputs, "h_T": h}


def cell_results(cell: str, arrays: dict[str, np.ndarray], device: str, dtype: torch.dtype, backend: str
                 ) -> dict[str, np.ndarray]:
    """Forward results and the gradients of a fixed random projection of them, as float64 numpy."""
    tensors = {name: torch.tensor(value, dtype=dtype, device=device, requires_grad=not name.startswith("probe"))
               for name, value in arrays.items()}
    results = run_cell(cell, tensors, backend)
    loss = sum((value * tensors["probe_" + name]).sum() for name, value in results.items())
    inputs = [name for name in tensors if not name.startswith("probe")]
    gradients = torch.autograd.grad(loss, [tensors[name] for name in inputs])
    found = {name: value.detach() for name, value in results.items()}
    found.update({"d_" + name: gradient for name, gradient in zip(inputs, gradients)})
    return {name: value.double().cpu().numpy() for name, value in found.items()}


def check_parity(cell: str, device: str, dtype: torch.dtype, backend: str = "torch", perturb: float = 0.0,
                 sizes: tuple[int, int, int, int] = (5, 7, 3, 6)) -> Parity:
    """Compare one cell on (device, dtype, backend) with the reference in float64 on the CPU.

    `perturb` is added to one weight of the candidate only: a harness that works must then fail.
    """
    batch, timesteps, features, units = sizes
    rng = np.random.default_rng(1)
    arrays: dict[str, np.ndarray] = {"x": rng.normal(0, 1, (batch, timesteps, features)),
                                     "h0": rng.normal(0, 0.5, (batch, units))}
    if cell == "lstm":
        arrays["c0"] = rng.normal(0, 0.5, (batch, units))
    arrays.update(cell_weights(cell, features, units, seed=2))
    arrays["probe_outputs"] = rng.normal(0, 1, (batch, timesteps, units))
    arrays["probe_h_T"] = rng.normal(0, 1, (batch, units))
    if cell == "lstm":
        arrays["probe_c_T"] = rng.normal(0, 1, (batch, units))
    tolerances = FORWARD_TOLERANCE[dtype], GRADIENT_TOLERANCE[dtype]
    name = str(dtype).replace("torch.", "")
    try:
        expected = cell_results(cell, arrays, "cpu", torch.float64, "reference")
        candidate_arrays = dict(arrays, kernel=arrays["kernel"].copy())
        candidate_arrays["kernel"][0, 0] += perturb
        found = cell_results(cell, candidate_arrays, device, dtype, backend)
    except (RuntimeError, ValueError) as error:  # e.g. a dtype this PyTorch's cuDNN path refuses
        return Parity(cell, device, name, {}, *tolerances, False, f"{type(error).__name__}: {error}")
    worst = {key: float(np.abs(found[key] - expected[key]).max() / (1 + np.abs(expected[key]).max()))
             for key in expected}
    passed = all(error <= (tolerances[1] if key.startswith("d_") else tolerances[0]) for key, error in worst.items())
    return Parity(cell, device, name, worst, *tolerances, passed)


# -- 2. masking: a padded batch equals each sequence run alone
def check_masking(cell: str, device: str, lengths: tuple[int, ...] = (6, 3, 1, 5), features: int = 3,
                  units: int = 4) -> dict[str, Any]:
    """Padded with a mask of real steps (backend "torch": cuDNN on a GPU) against each sequence unpadded."""
    rng = np.random.default_rng(3)
    timesteps = max(lengths)
    arrays = {"x": rng.normal(0, 1, (len(lengths), timesteps, features)),
              "h0": np.zeros((len(lengths), units)), "c0": np.zeros((len(lengths), units)),
              **cell_weights(cell, features, units, seed=4)}
    tensors = {name: torch.tensor(value, dtype=torch.float32, device=device) for name, value in arrays.items()}
    mask = torch.arange(timesteps, device=device) < torch.tensor(lengths, device=device)[:, None]
    with torch.no_grad():
        padded = run_cell(cell, tensors, "torch", mask)
        worst = 0.0
        for row, length in enumerate(lengths):
            one = {name: tensors[name][row : row + 1] for name in ("h0", "c0")}  # this sequence's state
            alone = run_cell(cell, tensors | one | {"x": tensors["x"][row : row + 1, :length]}, "torch")
            worst = max(worst, float((padded["outputs"][row, :length] - alone["outputs"][0]).abs().max()),
                        *(float((padded[key][row] - alone[key][0]).abs().max()) for key in alone if key != "outputs"))
            worst = max(worst, float(padded["outputs"][row, length:].abs().sum()))  # zeros at padding
    return {"cell": cell, "device": device, "lengths": list(lengths), "max_difference": worst, "passed": worst <= 1e-5}


def check_predict_lengths(device: str) -> dict[str, Any]:
    """`Sequential.predict(x, lengths=...)` on `device` against each sequence predicted alone."""
    from lstmkit import Sequential
    from lstmkit.layers import LSTM, Dense

    torch.manual_seed(0)
    model = Sequential([LSTM(8, input_shape=(None, 3)), Dense(2)])
    model.compile(loss="mse", optimizer="adam", device=device)
    lengths = np.array([7, 2, 5, 1])
    x = np.random.default_rng(5).normal(0, 1, (4, 7, 3)).astype(np.float32)
    padded = model.predict(x, lengths=lengths)
    alone = np.concatenate([model.predict(x[row : row + 1, :length]) for row, length in enumerate(lengths)])
    worst = float(np.abs(padded - alone).max())
    return {"check": "Sequential.predict(lengths=)", "device": device, "max_difference": worst, "passed": worst <= 1e-5}


# -- 3. DDP with nccl under torchrun
def ddp_worker(out: str) -> None:
    """Run by torchrun: lstmkit's fit on this process's GPU, then lstmkit.distributed on an nccl group."""
    from torch import distributed as dist

    from lstmkit import Sequential
    from lstmkit.distributed import Cluster, all_gather_tensors, all_sum, wrap
    from lstmkit.layers import LSTM, Dense

    rank = int(os.environ.get("RANK", "0"))
    x, y = ddp_data()
    model = ddp_model()
    model.fit(x, y, epochs=2, batch_size=16, seed=0, verbose=0)
    result: dict[str, Any] = {"rank": rank, "fit_weights": flat_weights(model).tolist(),
                              "fit_device": str(next(model.parameters()).device)}
    if not dist.is_initialized():  # one process: lstmkit trained alone; join nccl here
        dist.init_process_group("nccl")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    cluster = Cluster(dist.get_world_size(), dist.get_rank(), dist.get_world_size(), device)
    torch.manual_seed(rank)  # different weights per rank: DDP must broadcast rank 0's
    raw = Sequential([LSTM(8, input_shape=(6, 2)), Dense(1)])
    raw.compile(loss="mse", optimizer="sgd", device=str(device))
    parallel = wrap(raw, cluster)
    inputs, targets = torch.from_numpy(x[:16]).to(device), torch.from_numpy(y[:16]).to(device)
    loss = torch.nn.functional.mse_loss(parallel.forward_with_mask(inputs, None)[0], targets)
    loss.backward()
    result["ddp_module"] = type(parallel).__name__
    result["ddp_backend"] = dist.get_backend()
    result["ddp_weights"] = flat_weights(raw).tolist()
    result["ddp_gradient_norm"] = float(sum(p.grad.double().norm() ** 2 for p in raw.parameters()) ** 0.5)
    result["all_sum"] = all_sum([1.0, float(rank)], cluster)
    result["all_gather"] = [t.tolist() for t in all_gather_tensors(torch.tensor([rank], device=device), cluster)]
    with open(os.path.join(out, f"rank-{rank}.json"), "w") as handle:
        json.dump(result, handle)
    dist.barrier()
    dist.destroy_process_group()


def ddp_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((96, 6, 2)).astype(np.float32)
    return x, (x[:, -3:, 0].sum(axis=1, keepdims=True) * 0.3).astype(np.float32)


def ddp_model() -> Any:
    from lstmkit import Sequential
    from lstmkit.layers import LSTM, Dense

    model = Sequential([LSTM(8, input_shape=(6, 2)), Dense(1)])
    model.compile(loss="mse", optimizer="adam", device="cuda")
    return model


def flat_weights(model: Any) -> np.ndarray:
    return np.concatenate([w.ravel() for w in model.get_weights()])


def check_ddp(processes: int) -> dict[str, Any]:
    """torchrun this script's worker on `processes` GPUs; compare with a plain run of the same fit."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   os.path.abspath(__file__), "--ddp-worker", out]
        env = {key: value for key, value in os.environ.items() if key != "WORLD_SIZE"}
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        if done.returncode != 0:
            return {"processes": processes, "passed": False, "error": (done.stdout + done.stderr)[-3000:]}
        ranks = [json.load(open(os.path.join(out, f"rank-{rank}.json"))) for rank in range(processes)]
    x, y = ddp_data()
    alone = ddp_model()
    alone.fit(x, y, epochs=2, batch_size=16, seed=0, verbose=0)
    fit = [np.array(r["fit_weights"]) for r in ranks]
    reference = flat_weights(alone) if processes == 1 else fit[0]
    fit_difference = max(float(np.abs(w - reference).max()) for w in fit)
    ddp_difference = max(float(np.abs(np.array(r["ddp_weights"]) - ranks[0]["ddp_weights"]).max()) for r in ranks)
    sums_ok = all(r["all_sum"] == [float(processes), float(sum(range(processes)))] for r in ranks)
    gather_ok = all(r["all_gather"] == [[rank] for rank in range(processes)] for r in ranks)
    norms = [r["ddp_gradient_norm"] for r in ranks]
    passed = (fit_difference <= 1e-5 and ddp_difference == 0.0 and sums_ok and gather_ok
              and all(r["ddp_backend"] == "nccl" and r["fit_device"].startswith("cuda") for r in ranks)
              and max(norms) - min(norms) <= 1e-6 * max(norms) and min(norms) > 0)
    return {"processes": processes, "fit_weights_difference": fit_difference,
            "ddp_weights_difference_across_ranks": ddp_difference, "all_sum_ok": sums_ok, "all_gather_ok": gather_ok,
            "ddp_gradient_norms": norms, "backend": ranks[0]["ddp_backend"], "passed": passed}


# -- 4. timings: lstmkit against idiomatic PyTorch on the same GPU
def timing_jobs(device: str, quick: bool) -> dict[str, dict[str, Callable[[], float]]]:
    from lstmkit import Sequential, bench
    from lstmkit.layers import LSTM, Dense

    sizes = bench.QUICK if quick else bench.FULL
    x2, y2 = bench.sine_windows(sizes.w2_points)
    batch, timesteps, features, units = sizes.w3
    generator = torch.Generator().manual_seed(0)
    x3 = torch.randn(batch, timesteps, features, generator=generator).to(device)
    y3 = torch.randn(batch, 1, generator=generator).to(device)

    def sync() -> None:
        if device != "cpu":
            torch.cuda.synchronize()

    def synced(call: Callable[[], Any]) -> Callable[[], float]:
        def timed() -> float:
            call()  # warm-up (cuDNN plans, kernel loading)
            sync()
            start = time.perf_counter()
            call()
            sync()
            return time.perf_counter() - start
        return timed

    def ours(x_shape: tuple[int, int], units_: int) -> Any:
        model = Sequential([LSTM(units_, input_shape=x_shape), Dense(1)])
        model.compile(loss="mean_squared_error", optimizer="adam", device=device)
        return model

    def ours_w2() -> None:
        ours((x2.shape[1], 1), 64).fit(x2, y2, epochs=sizes.w2_epochs, batch_size=64, verbose=0, seed=0)

    w3_model = ours((timesteps, features), units)

    def theirs_w2() -> None:
        model = bench.TorchLSTMRegressor(1, 64).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.from_numpy(x2), torch.from_numpy(y2)), batch_size=64, shuffle=True)
        for _ in range(sizes.w2_epochs):
            for xb, yb in loader:
                xb, yb = xb.to(device), yb.to(device)
                optimizer.zero_grad()
                torch.nn.functional.mse_loss(model(xb), yb).backward()
                optimizer.step()

    reference = bench.TorchLSTMRegressor(features, units).to(device)
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3)

    def theirs_step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(reference(x3), y3).backward()
        optimizer.step()

    def theirs_forward() -> None:
        with torch.no_grad():
            reference(x3)

    return {
        "lstmkit": {"W2 fit (s)": synced(ours_w2),
                    "W3 step (s)": synced(lambda: w3_model.fit(x3, y3, epochs=1, batch_size=batch, verbose=0,
                                                               shuffle=False)),
                    "W3 forward (s)": synced(lambda: w3_model.predict(x3, batch_size=batch))},
        "pytorch": {"W2 fit (s)": synced(theirs_w2), "W3 step (s)": synced(theirs_step),
                    "W3 forward (s)": synced(theirs_forward)},
    }


def run_timings(device: str, rounds: int, quick: bool) -> dict[str, dict[str, list[float]]]:
    jobs = timing_jobs(device, quick)
    names = list(jobs)
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    for round_index in range(rounds):
        for name in names[round_index % 2 :] + names[: round_index % 2]:
            for key, job in jobs[name].items():
                samples[name].setdefault(key, []).append(job())
    return samples


def timing_table(samples: dict[str, dict[str, list[float]]]) -> str:
    lines = [f"{'workload':<16}{'lstmkit':>28}{'pytorch':>28}{'pytorch/lstmkit':>18}"]
    for key, ours in samples["lstmkit"].items():
        theirs = samples["pytorch"][key]
        cells = [f"{statistics.median(v):.4g} ({min(v):.3g}-{max(v):.3g})".rjust(28) for v in (ours, theirs)]
        ratio = statistics.median(t / o for o, t in zip(ours, theirs))
        lines.append(f"{key:<16}{''.join(cells)}{ratio:>17.2f}x")
    return "\n".join(lines)


# -- the whole script
def run_checks(gpu: bool, quick: bool, rounds: int, log: Callable[[str], Any] = print) -> dict[str, Any]:
    device = "cuda" if gpu else "cpu"
    result: dict[str, Any] = {"gpu": gpu, "device": torch.cuda.get_device_name(0) if gpu else "cpu",
                              "torch": torch.__version__, "cudnn": torch.backends.cudnn.version() if gpu else None,
                              "cudnn_enabled": torch.backends.cudnn.enabled}
    if not gpu:
        log("no GPU here: the cuDNN parity and masking checks run on the CPU (PyTorch's CPU kernels in place of "
            "cuDNN) to prove the harness runs; DDP with nccl and the GPU timings are not run.")
    # TF32 rounds float32 products to 10 mantissa bits: parity is checked without it.
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    result["parity"] = [asdict(check_parity(cell, device, dtype)) for cell in CELLS
                        for dtype in (torch.float32, torch.float64)]
    for row in result["parity"]:
        worst = max(row["worst"].values(), default=float("nan"))
        log(f"parity {row['cell']:<10} {row['device']} {row['dtype']:<7} worst {worst:.2e} "
            f"(tolerances {row['tolerance_forward']:.0e} / {row['tolerance_gradient']:.0e}): "
            f"{'ok' if row['passed'] else 'FAILED ' + (row['error'] or '')}")
    result["masking"] = [check_masking(cell, device) for cell in CELLS] + [check_predict_lengths(device)]
    for row in result["masking"]:
        log(f"masking {row.get('cell', row.get('check'))} on {row['device']}: max difference "
            f"{row['max_difference']:.2e}: {'ok' if row['passed'] else 'FAILED'}")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # PyTorch's defaults
    if gpu:
        result["ddp"] = check_ddp(min(2, torch.cuda.device_count()))
        log(f"DDP with nccl, {result['ddp']['processes']} process(es): "
            f"{'ok' if result['ddp']['passed'] else 'FAILED'} {json.dumps(result['ddp'])[:3000]}")
        result["timings"] = run_timings(device, rounds, quick)
        log(timing_table(result["timings"]))
    checks = result["parity"] + result["masking"] + ([result["ddp"]] if gpu else [])
    result["passed"] = all(check["passed"] for check in checks)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write every result here")
    parser.add_argument("--quick", action="store_true", help="small timing workloads (a smoke test)")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds per framework")
    parser.add_argument("--ddp-worker", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ddp_worker:
        ddp_worker(args.ddp_worker)
        return 0
    result = run_checks(cuda_available(), args.quick, args.rounds)
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(result, handle, indent=2)
        os.replace(tmp, args.json)
    print("all checks passed" if result["passed"] else "SOME CHECKS FAILED")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
