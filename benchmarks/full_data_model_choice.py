"""Which convolutional network memorises MNIST's flipped labels within a 2-core CPU budget (the full profile's choice).

Trains each candidate on all 60,000 MNIST training images with 10% of the labels flipped, with the full profile's
recipe (SGD, momentum 0.9, batch 128, lr 0.1 ×0.1 at 40% and 80% of the epochs, no weight decay, no scoring),
and records after every epoch the share of flipped labels fitted (on their wrong label), the share of clean
labels fitted, the test accuracy and the wall time. Candidates: the small CNN (width 16, 128 hidden units), the
same convolutions under a 1,024-unit hidden layer, ResNet-9 (width 8) and, for scale, the MLP 1024-512, which is
not convolutional. Writes results/full/model_choice.json (merged with candidates measured before).

    python benchmarks/full_data_model_choice.py small_cnn 40   # candidate, epochs
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from curvlib.models import build_model
from curvlib.pipeline import ScoreConfig, prepare_data
from curvlib.results import atomic_write, environment_info
from curvlib.training import TrainConfig, train_and_score

OUT = Path(__file__).resolve().parents[1] / "results" / "full" / "model_choice.json"


def candidate(name: str) -> nn.Module:
    """The network called ``name``: small_cnn (w16), cnn_head1024 (its convolutions, 1,024 hidden units), resnet9 (w8), mlp (1024-512)."""
    if name == "cnn_head1024":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.AdaptiveMaxPool2d(4), nn.Flatten(), nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 10),
        )  # fmt: skip
    width = {"small_cnn": 16, "resnet9": 8, "mlp": 1024}[name]
    return build_model(name, input_shape=(1, 28, 28), num_classes=10, width=width)


def measure(name: str, epochs: int, data_root=None) -> list[dict]:
    train = TrainConfig(epochs=epochs, batch_size=128, lr=0.1, milestones=(round(0.4 * epochs), round(0.8 * epochs)), score_every=0,
                        score_batch_size=1000)  # fmt: skip
    train_set, test_set = prepare_data(ScoreConfig(dataset="mnist", subset=None, noise=0.1, train=train), data_root)
    torch.manual_seed(0)
    model, noisy, rows, tic = candidate(name), train_set.is_noisy.numpy(), [], time.perf_counter()

    def record(epoch: int, net: nn.Module) -> None:
        net.eval()
        with torch.no_grad():
            fitted = torch.cat([net(x).argmax(1) for x in train_set.x.split(2000)]).numpy() == train_set.y.numpy()
            test = torch.cat([net(x).argmax(1) for x in test_set.x.split(2000)]).numpy() == test_set.y.numpy()
        rows.append({"epoch": epoch + 1, "flipped_fitted": float(fitted[noisy].mean()), "clean_fitted": float(fitted[~noisy].mean()),
                     "test_accuracy": float(test.mean()), "seconds": time.perf_counter() - tic})  # fmt: skip
        print(name, rows[-1], flush=True)
        net.train()

    train_and_score(model, train_set, train, on_epoch_end=record)
    return rows


if __name__ == "__main__":
    name, epochs = sys.argv[1], int(sys.argv[2])
    found = json.loads(OUT.read_text()) if OUT.exists() else {"candidates": {}}
    found["candidates"][name] = {"epochs": epochs, "per_epoch": measure(name, epochs), "environment": environment_info()}
    atomic_write(OUT, lambda tmp: Path(tmp).write_text(json.dumps(found, indent=1) + "\n"))
