"""PyTorch reference trajectories for shardnet's optimizers and learning-rate schedules.

Trains shardnet's network (ReLU hidden layer, sigmoid output, mean binary cross-entropy) in
float64 with torch.optim's SGD, Adam and AdamW, full batch, from the fixed initial model of the
oracle case (test/oracle/breast_cancer_h8/init.json) on data/breast_cancer.csv, z-scored as the
trainer does it: each feature's mean and population standard deviation from NumPy, computed
along the contiguous axis of a features × samples array (a zero std only centres).

The gradient comes from autograd, the update from torch.optim (single-tensor code path). The
learning rate of epoch e (from 0) is computed here from the schedule's formula, written exactly
as the issue states it, lr·f(e)·w(e), and set on the parameter group before that epoch's step.

Writes test/fixtures/optim/reference.json: per case, its options in the library's terms, the
learning rate of each epoch, the loss of each epoch's forward pass (before its update), and the
parameters after the last update as one flat list W1 (row-major) | b1 | W2 | b2.

Debian packages torch as python3-torch, for the system interpreter:

    /usr/bin/python3 scripts/torch_optim_reference.py
"""

import json
import math
import pathlib

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "breast_cancer.csv"
INIT = ROOT / "test" / "oracle" / "breast_cancer_h8" / "init.json"
OUT = ROOT / "test" / "fixtures" / "optim" / "reference.json"
EPOCHS = 30

# name: (base learning rate, optimizer options, schedule options), in the library's terms.
CASES = {
    "sgd_momentum": (0.1, {"kind": "sgd", "momentum": 0.9}, {}),
    "sgd_nesterov_weight_decay": (
        0.1,
        {"kind": "sgd", "momentum": 0.9, "nesterov": True, "weightDecay": 0.01},
        {},
    ),
    "adam": (0.01, {"kind": "adam"}, {}),
    "adam_weight_decay": (0.01, {"kind": "adam", "weightDecay": 0.05}, {}),
    "adamw": (0.01, {"kind": "adamw"}, {}),
    "sgd_momentum_step_warmup": (
        0.1,
        {"kind": "sgd", "momentum": 0.5},
        {"kind": "step", "stepEpochs": 8, "gamma": 0.5, "warmupEpochs": 3},
    ),
    "adamw_exponential_warmup": (
        0.02,
        {"kind": "adamw", "beta1": 0.8, "beta2": 0.99, "eps": 1e-7, "weightDecay": 0.1},
        {"kind": "exponential", "gamma": 0.95, "warmupEpochs": 5},
    ),
    "adam_cosine_warmup": (
        0.01,
        {"kind": "adam"},
        {"kind": "cosine", "minLearningRate": 0.001, "warmupEpochs": 5},
    ),
}


def scheduled_lr(lr, schedule, e, epochs):
    """lr·f(e)·w(e), as the issue writes it."""
    kind = schedule.get("kind", "constant")
    if kind == "constant":
        f = 1.0
    elif kind == "step":
        f = schedule["gamma"] ** (e // schedule["stepEpochs"])
    elif kind == "exponential":
        f = schedule["gamma"] ** e
    elif kind == "cosine":
        a = schedule.get("minLearningRate", 0.0)
        f = (a + (lr - a) * (1 + math.cos(math.pi * e / epochs)) / 2) / lr
    else:
        raise ValueError(kind)
    w = schedule.get("warmupEpochs", 0)
    return lr * f * (min(1.0, (e + 1) / w) if w > 0 else 1.0)


def make_optimizer(params, lr, options):
    kind = options["kind"]
    if kind == "sgd":
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=options.get("momentum", 0.0),
            nesterov=options.get("nesterov", False),
            weight_decay=options.get("weightDecay", 0.0),
            foreach=False,
        )
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(
        params,
        lr=lr,
        betas=(options.get("beta1", 0.9), options.get("beta2", 0.999)),
        eps=options.get("eps", 1e-8),
        weight_decay=options.get("weightDecay", 0.0 if kind == "adam" else 0.01),
        foreach=False,
    )


def standardized_data():
    table = np.loadtxt(DATA, delimiter=",", skiprows=1, dtype=np.float64)
    x, y = table[:, :-1], table[:, -1]
    columns = np.ascontiguousarray(x.T)  # features × samples: the trainer's summation order
    mean = columns.mean(axis=1)
    std = columns.std(axis=1)
    scale = np.where(std == 0, 1.0, std)
    return (x - mean) / scale, y, mean, std


def run(x, y, init, lr, options, schedule):
    w1 = torch.tensor(init["W1"], dtype=torch.float64, requires_grad=True)
    b1 = torch.tensor(init["b1"], dtype=torch.float64, requires_grad=True)
    w2 = torch.tensor(init["W2"], dtype=torch.float64, requires_grad=True)
    b2 = torch.tensor(init["b2"], dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([w1, b1, w2, b2], lr, options)
    lrs, losses = [], []
    for e in range(EPOCHS):
        rate = scheduled_lr(lr, schedule, e, EPOCHS)
        for group in optimizer.param_groups:
            group["lr"] = rate
        optimizer.zero_grad()
        z = torch.relu(x @ w1.T + b1) @ w2 + b2
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
        loss.backward()
        optimizer.step()
        lrs.append(rate)
        losses.append(loss.item())
    final = torch.cat([w1.detach().flatten(), b1.detach(), w2.detach(), b2.detach().reshape(1)])
    return lrs, losses, final.tolist()


def main():
    torch.set_num_threads(1)
    x, y, mean, std = standardized_data()
    init = json.loads(INIT.read_text())
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y)
    cases = []
    for name, (lr, options, schedule) in CASES.items():
        lrs, losses, final = run(xt, yt, init, lr, options, schedule)
        cases.append({
            "name": name,
            "learningRate": lr,
            "epochs": EPOCHS,
            "optimizer": options,
            "schedule": schedule,
            "lrs": lrs,
            "losses": losses,
            "final": final,
        })
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "generator": f"scripts/torch_optim_reference.py, torch {torch.__version__}, "
                     f"numpy {np.__version__}",
        "data": "data/breast_cancer.csv",
        "init": "test/oracle/breast_cancer_h8/init.json",
        "standardize": {"mean": mean.tolist(), "std": std.tolist()},
        "cases": cases,
    }) + "\n")


if __name__ == "__main__":
    main()
