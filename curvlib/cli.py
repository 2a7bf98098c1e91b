"""Command line: ``curvlib score ...`` and ``curvlib report OUT``; also ``python -m curvlib`` and
``torchrun --nproc_per_node=N -m curvlib score ...``.

Every bad input (an option out of range, a missing or corrupt file, bad labels, an unusable output
folder) is found before anything is written and ends with one line, ``curvlib <command>: error: <option>:
<what is wrong and the fix>``, and exit status 2.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from dataclasses import replace
from pathlib import Path

import torch

from .data import DATASETS, DataError
from .distributed import init_from_env, rank_and_world
from .models import MODELS
from .pipeline import PRESETS, data_fingerprint, model_factory, noisy_auroc, prepare_data, run_scoring, with_train
from .report import write_report
from .results import check_run_dir
from .suspects import DEFAULT_SCORE, SUSPECT_SCORES, WHY_DEFAULT_SCORE


class UsageError(Exception):
    """A bad command line; its message is printed as one line and the command exits with status 2."""


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
        help="train a model, score every training sample every K epochs, write OUT/scores.csv, OUT/suspects.csv and OUT/report.html",
        description="Train with per-epoch scoring and write OUT/scores.csv (one row per training sample, keyed by "
        "dataset index), OUT/history.csv, OUT/arrays.npz (per-epoch arrays), OUT/config.json and the report "
        "OUT/report.html with OUT/suspects.csv (every sample ranked, with its kind, suggested label and what to check). Options not given come from --preset. Rerunning an interrupted command resumes from "
        "OUT/checkpoint.pt.",
    )
    score.add_argument("--preset", choices=sorted(PRESETS), default="default",
                       help="starting configuration (default: %(default)s, chosen from the book's evidence; "
                            "'paper' is the paper's MNIST setting, h = 1e-3, n = 10)")  # fmt: skip
    score.add_argument("--data", help="your own data: an image folder (one subfolder per class), an .npz with x and y, or a CSV with columns path,label")
    score.add_argument("--dataset", choices=DATASETS, help="a built-in dataset instead of --data")
    score.add_argument("--subset", type=_subset, default=argparse.SUPPRESS, help="stratified subset size of the training data ('all' for everything)")
    score.add_argument("--noise", type=float, help="fraction of training labels flipped to another class, in [0, 1), e.g. 0.1 to test detection")
    score.add_argument("--model", choices=sorted([*MODELS, "auto"]), help="architecture ('auto': an MLP for small inputs, else the small CNN)")
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
    score.add_argument("--top", type=int, default=32, help="samples shown in the report (default: %(default)s)")
    score.add_argument("--out", required=True, help="output folder (empty, or holding a run of the same options)")
    report = sub.add_parser(
        "report", help="write OUT/report.html, OUT/report.png and OUT/suspects.csv for a finished run",
        description="Write a self-contained HTML page of the run's suspects by a score, each once under its kind (image, "
        "index, given and suggested label, prediction, score), the score histograms and the training curve; a PNG of "
        "the top-k; and OUT/suspects.csv, the whole ranked table.",
    )  # fmt: skip
    report.add_argument("out", help="folder of a finished `curvlib score` run")
    report.add_argument("--score", choices=SUSPECT_SCORES, help=f"ranking score (default: {DEFAULT_SCORE}; see the report)")
    report.add_argument("--top", type=int, default=32, help="samples shown (default: %(default)s)")
    report.add_argument("--data-root", help="where the run's built-in dataset lies now, if moved")
    return parser


def config_from_args(args: argparse.Namespace):
    """The preset with every option the user gave applied on top. With ``--data`` every sample is scored with its
    given label: the preset's subset and injected noise are dropped unless ``--subset`` or ``--noise`` is given."""
    config = PRESETS[args.preset]
    if args.data is not None and args.dataset is not None:
        raise UsageError("--data and --dataset: give one of them, your own data or a built-in dataset")
    top = {}
    if args.data is not None:  # your own labels are scored as given: no preset's injected noise, every sample
        top.update(dataset=str(Path(args.data).expanduser().resolve()), subset=None, test_subset=None, noise=0.0)
    top.update({k: getattr(args, k) for k in ("dataset", "noise", "model", "width", "seed") if getattr(args, k) is not None})
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
    try:
        return with_train(config, **changes)
    except ValueError as err:
        raise UsageError(f"training options: {err}") from None


def _check_device(name: str) -> None:
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name}: not a torch device; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: torch {torch.__version__} sees no CUDA device here; use --device cpu")


def _setup(args: argparse.Namespace):
    """Check every option and load the data, writing nothing: (config, (train, test)) or a UsageError."""
    config = config_from_args(args)
    _check_device(args.device)
    for name, value in (("--probes", config.train.n_probes), ("--top", args.top)):
        if value < 1:
            raise UsageError(f"{name} {value}: must be at least 1")
    if not config.train.h > 0:
        raise UsageError(f"--h {config.train.h}: the finite-difference step must be > 0, e.g. 1e-2")
    try:
        check_run_dir(args.out, config.as_dict())
    except ValueError as err:
        raise UsageError(f"--out {args.out}: {err}") from None
    source = f"--data {args.data}" if args.data is not None else f"--dataset {config.dataset}"
    try:
        data = prepare_data(config, args.data_root)
    except DataError as err:
        raise UsageError(f"{err.option or source}: {err}") from None
    except (FileNotFoundError, OSError, ValueError) as err:
        raise UsageError(f"{source}: {err}") from None
    try:
        check_run_dir(args.out, config.as_dict(), data_fingerprint(config, data[0]))  # the same options, but other data?
    except ValueError as err:
        raise UsageError(f"--out {args.out}: {err}") from None
    shape = tuple(data[0].x.shape[1:])
    try:
        with torch.no_grad():
            model_factory(config, data[0])()(data[0].x[:2])
    except (RuntimeError, ValueError) as err:
        raise UsageError(f"--model {config.model}: does not fit inputs of shape {shape} ({err}); try --model auto") from None
    return config, data


def _score(args: argparse.Namespace) -> int:
    config, data = _setup(args)
    device = init_from_env(args.device)  # joins torchrun's process group, if launched by torchrun
    result = run_scoring(config, data_root=args.data_root, out_dir=args.out, device=device, data=data)
    if rank_and_world()[0] != 0:
        return 0
    table = result.tables["scores"]
    check = result.meta["memorization_check"]
    print(f"wrote {args.out}/scores.csv ({len(table)} samples) and {args.out}/config.json")
    print(f"fitted on the given labels: {check['fitted']:.2%} of training samples")
    if check["advice"]:
        print(f"note: {check['advice']}", file=sys.stderr)
    print(f"ranked by {DEFAULT_SCORE}: {WHY_DEFAULT_SCORE}")
    if config.noise > 0:
        print(f"AUROC of {DEFAULT_SCORE} for the noisy flag: {noisy_auroc(table, DEFAULT_SCORE):.4f} ({int(table.is_noisy.sum())} noisy samples)")
    print(f"report: {write_report(args.out, score=DEFAULT_SCORE, top=args.top, train_set=data[0])}")
    print(f"suspects: {Path(args.out) / 'suspects.csv'} (every sample ranked, with its kind, suggested label and what to check)")
    return 0


@contextlib.contextmanager
def progress_lines():
    """While open, send curvlib's INFO lines (one per training epoch, with the time left) to stderr when it is not a
    terminal, where tqdm's bars do not show: a log file or a CI job then still sees the run advance."""
    logger = logging.getLogger("curvlib")
    if sys.stderr.isatty():
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``curvlib`` console script; returns the exit status (2 for a bad input)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "report":
            try:
                print(f"report: {write_report(args.out, score=args.score, top=args.top, data_root=args.data_root)}")
                print(f"suspects: {Path(args.out) / 'suspects.csv'}")
            except (FileNotFoundError, ValueError) as err:
                raise UsageError(f"{args.out}: {err}") from None
            return 0
        with progress_lines():
            return _score(args)
    except UsageError as err:
        print(f"curvlib {args.command}: error: {err}", file=sys.stderr)
        return 2
