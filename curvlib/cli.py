"""Command line: ``curvlib score ...``, also ``python -m curvlib`` and ``torchrun --nproc_per_node=N -m curvlib``."""
from __future__ import annotations

import argparse
from dataclasses import replace

from .data import DATASETS
from .distributed import init_from_env, rank_and_world
from .experiments import PRESETS, noisy_auroc, run_scoring, with_train
from .models import MODELS


def _subset(text: str) -> int | None:
    return None if text in ("all", "0") else int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``curvlib`` command."""
    parser = argparse.ArgumentParser(
        prog="curvlib", description="Input-loss curvature as a memorization score (Garg et al., ICML 2024)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    score = sub.add_parser(
        "score",
        help="train a model, score every training sample every K epochs, write OUT/scores.csv",
        description="Train with per-epoch scoring and write OUT/scores.csv (one row per training sample, keyed by "
        "dataset index), OUT/history.csv, OUT/arrays.npz (per-epoch arrays) and OUT/config.json. Options not given "
        "come from --preset. Rerunning an interrupted command resumes from OUT/checkpoint.pt.",
    )
    score.add_argument("--preset", choices=sorted(PRESETS), default="mnist_quick", help="starting configuration (default: %(default)s)")
    score.add_argument("--dataset", choices=DATASETS, help="dataset name")
    score.add_argument("--subset", type=_subset, default=argparse.SUPPRESS, help="stratified subset size of the training split ('all' for everything)")
    score.add_argument("--noise", type=float, help="fraction of training labels flipped to another class, e.g. 0.1")
    score.add_argument("--model", choices=sorted(MODELS), help="architecture")
    score.add_argument("--width", type=int, help="first-stage channels (CNNs) or first hidden size (MLP)")
    score.add_argument("--epochs", type=int, help="training epochs")
    score.add_argument("--every", type=int, help="score curvature every K epochs (0 = never)")
    score.add_argument("--h", type=float, help="finite-difference step h (paper: 1e-3)")
    score.add_argument("--probes", type=int, help="Rademacher probes per sample n (paper: 10)")
    score.add_argument("--squared", action="store_true", default=None, help="average squared norms (the paper's equation)")
    score.add_argument("--batch-size", type=int, help="training batch size")
    score.add_argument("--lr", type=float, help="learning rate (peak for onecycle)")
    score.add_argument("--weight-decay", type=float, help="SGD weight decay")
    score.add_argument("--schedule", choices=("multistep", "onecycle", "constant"), help="learning-rate schedule")
    score.add_argument("--milestones", type=lambda s: tuple(int(v) for v in s.split(",") if v), help="multistep epochs, e.g. 80,160")
    score.add_argument("--augment", action="store_true", default=None, help="random crop + horizontal flip")
    score.add_argument("--seed", type=int, help="seed of subset, noise, initialisation, shuffling and probes")
    score.add_argument("--data-root", help="folder holding MNIST/raw etc. (default: $CURVLIB_DATA_ROOT)")
    score.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default: %(default)s)")
    score.add_argument("--out", required=True, help="output folder")
    return parser


def config_from_args(args: argparse.Namespace):
    """The preset with every option the user gave applied on top."""
    config = PRESETS[args.preset]
    top = {k: getattr(args, k) for k in ("dataset", "noise", "model", "width", "seed") if getattr(args, k) is not None}
    if hasattr(args, "subset"):
        top["subset"] = args.subset
    config = replace(config, **top)
    mapping = {
        "epochs": "epochs", "every": "score_every", "h": "h", "probes": "n_probes", "squared": "squared",
        "batch_size": "batch_size", "lr": "lr", "weight_decay": "weight_decay", "schedule": "schedule",
        "milestones": "milestones", "augment": "augment",
    }  # fmt: skip
    changes = {field: getattr(args, arg) for arg, field in mapping.items() if getattr(args, arg) is not None}
    if args.seed is not None:
        changes["seed"] = args.seed
    return with_train(config, **changes)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``curvlib`` console script."""
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    device = init_from_env(args.device)  # joins torchrun's process group, if launched by torchrun
    result = run_scoring(config, data_root=args.data_root, out_dir=args.out, device=device)
    if rank_and_world()[0] != 0:
        return 0
    table = result.tables["scores"]
    print(f"wrote {args.out}/scores.csv ({len(table)} samples) and {args.out}/config.json")
    if config.noise > 0:
        print(f"AUROC of curvature for the noisy flag: {noisy_auroc(table):.4f} ({int(table.is_noisy.sum())} noisy samples)")
    return 0
