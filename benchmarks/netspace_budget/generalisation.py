"""How well the demo's single NetSpace generalises to unseen nets, per seed, zoo size and steps.

The pipeline's tau is over the demo's 8 test nets, where one swapped pair moves it by 0.07; this script measures it
over more test nets (16, the paper profile's count) for settings the chapter's 10 minutes cannot hold, e.g.

    python benchmarks/netspace_budget/generalisation.py --seed 1 --train 24 --val 4 --steps 1000

- the single zoo's members, the demo's (params.yaml's demo profile; same names, seeds and epochs as the pipeline's,
  so the first ones are the pipeline's own nets), trained in this one process into ``--pool``/s<seed>/ (a member
  file already there is kept): the first ``--train`` training nets, ``--val`` validation and ``--test`` test nets;
- NetSpace in the single setting, by ``sketch3d train_netspace`` with the demo's settings and ``--steps``,
  ``--eval-every`` (resumable: a larger ``--steps`` on the same ``--out`` continues the run);
- ``--zoo``, ``--training`` and ``--model``: JSON laid over the demo's ``netspace.zoo.single``,
  ``netspace.training.single`` and ``netspace.model``;
- Kendall's tau-b (scipy) between the test nets' accuracy and their decoded nets', over the first 8 test nets (the
  demo's) and over all, printed and written to ``--out``/agreement.json with the model's best step;
- beside it, how readable accuracy is from the weights at all (``weight_statistics``): a ridge regression
  (scikit-learn, alpha by leave-one-out) from per-tensor weight statistics (RMS, mean |w|, mean) of the same
  training nets to their test accuracy, and its tau on the test nets: the kind of predictor Unterthiner et al.
  (2020, "Predicting Neural Network Accuracy from Weights") use as a baseline; no decoding involved;
- the same ridge from NetSpace's embedding of each net (``embedding_ridge_tau``): whether the encoder keeps a net's
  quality, whatever the decoder makes of it;
- tau over each consecutive block of 8 test nets (``tau_blocks_of_8``; e.g. ``--test 64``): how much the demo's
  8-net tau moves for one model;
- two references from the zoo itself, no NetSpace (``zoo_reference_taus``): tau between the test nets' test
  accuracy and their accuracy on the validation images (a net's own quality measured on other images: about the
  ceiling for any predictor of quality, the 200 test images' sampling noise being what keeps it below 1), and
  between their test accuracy and the epochs they trained;
- with ``--test-every N``, the run goes in chunks of N steps (each a resumed ``train_netspace``, the same trajectory
  as one run), and after each chunk the model *as it stands* (the checkpoint's, not the best on the validation
  nets) is scored on the test nets (``tau_by_step``): whether more steps would buy agreement, apart from the
  validation nets' noisy choice of step.

Not part of the pipeline: a development measurement (measured.json's ``"generalisation"`` section).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from sketch3d.config import load_params, merge
from sketch3d.netspace.datasets import dataset_data
from sketch3d.netspace.evaluation import target_vs_predicted
from sketch3d.netspace.images import load_splits, normalise
from sketch3d.netspace.model import NetSpace
from sketch3d.netspace.training import load_net, load_netspace, make_targets, templates_for
from sketch3d.netspace.zoo import train_member
from sketch3d.netspace.zoo_plan import zoo_plan


def weight_statistics(records: list[dict]) -> np.ndarray:
    """Per net: RMS, mean |w| and mean of each tensor of its (folded) state dict."""
    rows = []
    for r in records:
        rows.append([f for v in r["state_dict"].values() for f in (
            v.float().pow(2).mean().sqrt().item(), v.float().abs().mean().item(), v.float().mean().item())])
    return np.asarray(rows)


def ridge_tau(x_train: np.ndarray, y_train, x_test: np.ndarray, y_test) -> tuple[float, float]:
    """tau-b over all test rows and over the first 8 between ``y_test`` and a ridge regression's prediction of it
    (scikit-learn, features standardised on the training rows, alpha by leave-one-out)."""
    from sklearn.linear_model import RidgeCV

    mean, std = x_train.mean(0), x_train.std(0) + 1e-12
    model = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit((x_train - mean) / std, y_train)
    pred = model.predict((x_test - mean) / std)
    return kendalltau(y_test, pred)[0], kendalltau(y_test[:8], pred[:8])[0]


def statistics_tau(train: list[dict], test: list[dict]) -> tuple[float, float]:
    """``ridge_tau`` from the weight statistics of the training nets' saved records (their test accuracy as
    recorded) to the test nets'."""
    return ridge_tau(weight_statistics(train), [r["test_accuracy"] for r in train],
                     weight_statistics(test), [r["test_accuracy"] for r in test])


def block_taus(target: list[float], predicted: list[float], size: int = 8) -> list[float]:
    """tau-b over each consecutive block of ``size`` test nets. The zoo plan spreads a split's epochs along a
    golden-ratio sequence, and any run of consecutive members of it is spread evenly too: each block is a test set
    like the demo's first 8, and the blocks show how much tau over 8 nets moves for one model."""
    return [kendalltau(target[i:i + size], predicted[i:i + size])[0] for i in range(0, len(target) - size + 1, size)]


def zoo_reference_taus(records: list[dict]) -> dict[str, float]:
    """tau-b of the nets' test accuracy against their validation accuracy and against their epochs of training."""
    test = [r["test_accuracy"] for r in records]
    return {"test_vs_val_accuracy": kendalltau(test, [r["val_accuracy"] for r in records])[0],
            "test_accuracy_vs_epochs": kendalltau(test, [r["epochs"] for r in records])[0]}


def chunk_ends(steps: int, every: int | None) -> list[int]:
    """The step counts at which a chunked run stops to be scored: every ``every`` steps, and ``steps`` itself."""
    if not every:
        return [steps]
    return sorted({*range(every, steps, every), steps})


def checkpoint_model(checkpoint: Path, config: dict) -> tuple[NetSpace, int]:
    """The model as it stands in a ``train_netspace`` checkpoint (its last step, not its best), and that step."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = NetSpace.from_config(config)
    model.load_state_dict(state["model"])
    model.eval()
    return model, int(state["step"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train", type=int, default=12)
    ap.add_argument("--val", type=int, default=2)
    ap.add_argument("--test", type=int, default=16)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--test-every", type=int, default=None,
                    help="run in chunks of this many steps; score the model as it stands on the test nets after each")
    ap.add_argument("--training", default="{}", help="JSON laid over netspace.training.single, e.g. '{\"lr\": 0.003}'")
    ap.add_argument("--zoo", default="{}", help="JSON laid over netspace.zoo.single (epochs, lr); use its own --pool")
    ap.add_argument("--model", default="{}", help="JSON laid over netspace.model (e.g. wider channels)")
    ap.add_argument("--pool", default="results/generalisation/pool")
    ap.add_argument("--out", default=None, help="default results/generalisation/t<train>v<val>-s<seed>")
    a = ap.parse_args()
    torch.set_num_threads(1)
    p = load_params("params.yaml", {"profile": "demo", "seed": a.seed})
    ns = p["netspace"]
    (dataset,) = ns["datasets"]
    data_cfg = dataset_data(ns["data"], dataset)
    zoo = json.loads(json.dumps(ns["zoo"]))
    zoo["single"] = {**merge(zoo["single"], json.loads(a.zoo)), "count": {"train": a.train, "val": a.val, "test": a.test}}
    plan = [m for m in zoo_plan({"seed": a.seed, "netspace": {**ns, "zoo": zoo}}) if m.setting == "single"]
    member_settings = {"netspace": {"data": data_cfg}, "seed": a.seed}
    pool = Path(a.pool) / f"s{a.seed}"
    images = load_splits(member_settings)
    for m in plan:
        out = pool / f"{m.name}.pt"
        if not out.exists():
            train_member(m, member_settings, images, out, pool / "checkpoints" / m.name, torch.device("cpu"))
    files = {s: [str(pool / f"{m.name}.pt") for m in plan if m.split == s] for s in ("train", "val", "test")}

    out = Path(a.out or f"results/generalisation/t{a.train}v{a.val}-s{a.seed}")
    training = {**ns["training"]["single"], "steps": a.steps, "eval_every": a.eval_every, **json.loads(a.training)}
    settings = {"netspace": {"data": data_cfg, "model": merge(ns["model"], json.loads(a.model)), "prep": ns["prep"],
                             "training": {"single": training}}, "profile": "demo", "seed": a.seed}
    x, y = load_splits({**settings, "netspace": {"data": data_cfg}}, ("test",))["test"]
    x = normalise(x)  # as train_netspace / evaluate_netspace see the test split: normalised, not augmented
    nets = [load_net(f) for f in files["test"]]
    templates = templates_for([n for n, _ in nets], "single")
    by_step, record, targets = {}, None, None
    for end in chunk_ends(a.steps, a.test_every):
        settings["netspace"]["training"]["single"]["steps"] = end
        subprocess.run(["sketch3d", "train_netspace", "--setting", "single", "--settings", json.dumps(settings),
                        "--train", *files["train"], "--val", *files["val"], "--out", str(out / "model"),
                        "--checkpoints", str(out / "checkpoints")], check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
        if a.test_every:
            if record is None:  # the model's config and PRep shape: the same for every chunk of the run
                record = load_netspace(out / "model" / "model.pt")[1]
                targets = make_targets(nets, int(record["prep_width"]), int(record["prep_height"]))
            now, step = checkpoint_model(out / "checkpoints" / "netspace_single.pt", record["config"])
            pairs = [(r["target"], r["predicted"]) for r in target_vs_predicted(now, targets, templates, x, y)]
            by_step[step] = kendalltau(*zip(*pairs))[0]
            print(json.dumps({"step": step, "tau": by_step[step], "tau_first8": kendalltau(*zip(*pairs[:8]))[0]}),
                  flush=True)
    model, record = load_netspace(out / "model" / "model.pt")
    targets = targets or make_targets(nets, int(record["prep_width"]), int(record["prep_height"]))
    rows = target_vs_predicted(model, targets, templates, x, y)
    t, q = [r["target"] for r in rows], [r["predicted"] for r in rows]
    train_nets = [load_net(f) for f in files["train"]]
    stats_tau, stats_tau8 = statistics_tau([r for _, r in train_nets], [r for _, r in nets])
    # is a net's quality in its embedding? the same ridge, from NetSpace's embedding of each net
    train_targets = make_targets(train_nets, int(record["prep_width"]), int(record["prep_height"]))
    with torch.no_grad():
        e_train = model.encode(torch.stack([g.prep for g in train_targets])).numpy()
        e_test = model.encode(torch.stack([g.prep for g in targets])).numpy()
    emb_tau, emb_tau8 = ridge_tau(e_train, [r["test_accuracy"] for _, r in train_nets], e_test,
                                  [r["test_accuracy"] for _, r in nets])
    result = {"seed": a.seed, "train": a.train, "val": a.val, "test": a.test, "steps": a.steps,
              "best_step": record["summary"]["best_step"], "tau_first8": kendalltau(t[:8], q[:8])[0],
              "tau": kendalltau(t, q)[0], "zoo_reference_taus": zoo_reference_taus([r for _, r in nets]),
              "weight_statistics_tau": stats_tau,
              "weight_statistics_tau_first8": stats_tau8, "embedding_ridge_tau": emb_tau,
              "embedding_ridge_tau_first8": emb_tau8, "tau_blocks_of_8": block_taus(t, q),
              "target_predicted_in_net_order": [list(pair) for pair in zip(t, q)],
              **({"tau_by_step": {str(k): v for k, v in sorted(by_step.items())}} if by_step else {})}
    (out / "agreement.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "target_predicted_in_net_order"}))


if __name__ == "__main__":
    main()
