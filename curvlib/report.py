"""``curvlib report OUT``: a self-contained HTML page (and a PNG) of a run's most suspicious samples.

The page opens with a summary (how many suspects of each kind, the share of labels the model fitted, the ranking
score), then shows each suspect once, under its kind (:func:`curvlib.suspects.suspect_kinds`), most suspicious
first: its image, dataset index, given label and, for a likely mislabeled sample, the label it suggests ("given 6 →
likely 0"), the last prediction and the score; then the score's histogram, the training curve and what was inferred
about the data. Images are embedded as base64 PNG, so the one file can be mailed or opened anywhere. Beside it,
``suspects.csv`` holds the whole table (:func:`curvlib.suspects.save_suspects`). The data are reloaded from the
run's config (the same seeded subset and noise), never recomputed: no training happens here.
"""
from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from . import plotting
from .metrics import auroc
from .pipeline import ScoreConfig, prepare_data
from .results import atomic_write, load_run
from .analysis import MEMORIZED
from .suspects import DEFAULT_SCORE, KINDS, WHAT_TO_CHECK, WHY_DEFAULT_SCORE, conflicting_duplicate_pairs, save_suspects, suspects_table

__all__ = ["write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
.grid { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 6px; width: 132px; font-size: 12px; background: #fafafa; }
.card img { width: 120px; height: 120px; image-rendering: pixelated; background: #000; display: block; margin: auto; }
.features { font-family: monospace; font-size: 11px; min-height: 3em; }
.pair { display: flex; gap: 4px; border: 1px dashed #b35806; border-radius: 6px; padding: 4px; }
.flag { color: #b35806; font-weight: bold; }
.warn { border: 2px solid #b35806; background: #fff3e0; padding: 0.6em; border-radius: 6px; }
table.meta td { padding: 2px 12px 2px 0; }
"""


def _png_uri(write) -> str:
    buffer = io.BytesIO()
    write(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _thumbnail(pixels: np.ndarray) -> str:
    """A data URI of one image ([H, W] or [H, W, C] in [0, 1]) scaled to fit 120 pixels."""
    img = Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8))
    scale = 120 / max(img.size)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.NEAREST)
    return _png_uri(lambda f: img.save(f, format="PNG"))


def _name(label: int, classes) -> str:
    return f"{label} ({classes[label]})" if classes else str(label)


def _feature_summary(values: np.ndarray, shown: int = 3) -> str:
    """The ``shown`` features of one normalised feature vector farthest from their mean, as "f<j> = z" (z-scores)."""
    far = np.argsort(-np.abs(values), kind="stable")[:shown]
    return ", ".join(f"f{j} = {values[j]:+.1f}" for j in far)


def write_report(run_dir: str | os.PathLike, *, score: str | None = None, top: int = 32, data_root=None, train_set=None) -> Path:
    """Write ``run_dir/report.html``, ``run_dir/report.png`` and ``run_dir/suspects.csv`` for a finished ``curvlib score`` run.

    Contract: ranks samples by ``score`` (highest first; default :data:`curvlib.suspects.DEFAULT_SCORE`), writes the
    whole :func:`curvlib.suspects.suspects_table` to ``suspects.csv``, and shows each suspect once under its kind
    (at most ``top`` per kind), with its image, or for a feature vector the features farthest from their mean
    (z-scores); ``report.png`` shows the ``top`` first by the score. Returns the HTML path. ``data_root`` overrides the folder recorded in the run (for built-in datasets only);
    ``train_set``, the run's training data if already loaded, saves reloading it.
    Raises FileNotFoundError if ``run_dir`` holds no finished run, ValueError if the run has no ``score``.

    Example:
        >>> write_report("runs/my_images", top=48)
        PosixPath('runs/my_images/report.html')
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    config = ScoreConfig.from_dict(run.config)
    scores, history = run.tables["scores"], run.tables["history"]
    if train_set is None:
        train_set, _ = prepare_data(config, data_root or run.meta.get("data_root"))
    score = score or DEFAULT_SCORE
    if not np.array_equal(np.sort(train_set.index.numpy()), np.sort(scores["index"].to_numpy())):
        raise ValueError(f"the data reloaded for {run_dir} do not match its scores.csv: was the source changed since the run?")
    full = suspects_table(scores, rank_by=score, duplicates=conflicting_duplicate_pairs(train_set))
    save_suspects(full, run_dir / "suspects.csv")
    table = full.head(top)
    position = dict(zip(train_set.index.numpy().tolist(), range(len(train_set))))
    positions = np.array([position[i] for i in table.index], dtype=int)
    pixels = train_set.pixels(positions) if train_set.is_image else None
    classes = train_set.classes

    def picture(index: int) -> str:
        """The image of a sample as a data URI tag, or for a feature vector its most extreme features."""
        if train_set.is_image:
            return f'<img src="{_thumbnail(train_set.pixels([position[index]])[0])}" alt="sample {index}">'
        return f"<div class=features>{html.escape(_feature_summary(train_set.x[position[index]].numpy()))}</div>"

    def card(index: int, row) -> str:
        suggests = row.kind == KINDS[0]
        label = (f"<div class=flag>given {html.escape(_name(int(row.given_label), classes))} → likely "
                 f"{html.escape(_name(int(row.suggested_label), classes))}</div>" if suggests
                 else f"<div>given: {html.escape(_name(int(row.given_label), classes))}</div>")  # fmt: skip
        mismatch = row.predicted_label != row.given_label
        return (
            f'<div class="card">{picture(index)}'
            f"<div><b>#{row['rank']}</b> · index {index}</div>{label}"
            f"<div{' class=flag' if mismatch else ''}>last prediction: {html.escape(_name(int(row.predicted_label), classes))}</div>"
            f"<div>{score}: {row[score]:.4g}</div>"
            + (f"<div class=flag>injected flip (was {int(row.true_label)})</div>" if row.get("is_noisy", False) else "")
            + "</div>"
        )

    sections, counts = [], {}
    for kind, column in zip(KINDS, ("is_likely_mislabeled", "is_conflicting_duplicate", "is_atypical")):
        rows = full[full[column].to_numpy(dtype=bool)]
        if kind == KINDS[1]:  # each pair once, the two images side by side
            rows = rows[rows.index < rows.duplicate_of]
            cards = [f'<div class="pair">{card(i, r)}{card(int(r.duplicate_of), full.loc[int(r.duplicate_of)])}</div>'
                     for i, r in rows.head(top).iterrows()]  # fmt: skip
        else:
            cards = [card(i, r) for i, r in rows.head(top).iterrows()]
        counts[kind] = len(rows)
        shown = f"{min(len(rows), top)} of {len(rows)} shown" if len(rows) else "none found"
        sections.append(
            f'<h2 id="{kind.replace(" ", "-")}">{kind.capitalize()} ({shown})</h2><p>What to check: {html.escape(WHAT_TO_CHECK[kind])}.</p>'
            f'<div class="grid">{"".join(cards)}</div>'
        )
    values = scores[score].to_numpy()
    flags = scores["is_noisy"].to_numpy(dtype=bool)

    plotting.set_style()
    titles = [f"#{r} idx {i}\ngiven {g} pred {p}" for r, i, g, p in zip(table["rank"], table.index, table.given_label, table.predicted_label)]
    fig = plotting.report_figure(pixels, titles, values, flags, history, label=score)
    png = run_dir / "report.png"
    atomic_write(png, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    plotting.score_histogram(axes[0], values, flags, label=score)
    plotting.training_curve(axes[1], history)
    fig.tight_layout()
    charts = _png_uri(lambda f: fig.savefig(f, format="png", dpi=90))
    plt.close(fig)

    check = run.meta.get("memorization_check") or {}
    data = run.meta.get("data") or {}
    rows = [
        ("data", html.escape(str(data.get("source", config.dataset)))), ("samples", f"{len(scores):,}"),
        ("input shape", html.escape(str(data.get("input_shape", "")))), ("model", html.escape(f"{config.model} (width {config.width})")),
        ("training", f"{config.train.epochs} epochs, h = {config.train.h:g}, n = {config.train.n_probes} probes"),
        ("fitted on given labels", f"{check.get('fitted', float('nan')):.1%}"),
    ]  # fmt: skip
    if flags.any():
        rows.append((f"AUROC of {score} for the {int(flags.sum())} injected flips", f"{auroc(flags, values):.4f}"))
    fitted = check.get("fitted", float("nan"))
    warning = f'<p class="warn">Note: {html.escape(check["advice"])}.</p>' if check.get("advice") else ""
    memorised = (
        f"<p>The model fits {fitted:.1%} of the given labels, so after the last epoch it predicts the given label for almost"
        " every sample, the mislabeled ones included: the last prediction cannot tell them from atypical ones. The kinds and"
        " the suggested labels below come from the training history (the class the model predicted while it was still"
        " learning the sample).</p>" if fitted >= MEMORIZED else ""
    )  # fmt: skip
    summary = ", ".join(f'<a href="#{k.replace(" ", "-")}">{counts[k]} {k}{" pairs" if k == KINDS[1] else ""}</a>' for k in KINDS)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>curvlib report: {html.escape(str(data.get('source', run_dir.name)))}</title>
<style>{_STYLE}</style></head><body>
<h1>Suspects by {score}</h1>
<p><b>{summary}</b> among {len(scores):,} samples: the top {int(full.is_label_issue.sum())} by {score} (the table's
<code>is_label_issue</code>) split into samples the model predicts as another class now or predicted as one for much of
training (likely mislabeled, with the label it suggests) and samples whose label it agrees with (atypical); and every
pair of (near-)identical images that carry different labels (conflicting duplicates), whatever their score. Each
suspect is shown once, most suspicious first; labels in <span class="flag">orange</span> differ from the given one.
The model fitted {fitted:.1%} of the given labels.</p>
{f"<p>{html.escape(WHY_DEFAULT_SCORE)}.</p>" if score == DEFAULT_SCORE else ""}
{memorised}
{warning}
{''.join(sections)}
<h2>Scores and training</h2>
<img src="{charts}" alt="score histogram and training curve" style="max-width: 100%">
<h2>Run</h2>
<table class="meta">{''.join(f'<tr><td>{k}</td><td>{v}</td></tr>' for k, v in rows)}</table>
<p>Files: suspects.csv (every sample ranked, with its kind, suggested label and what to check), scores.csv (every
sample, every score), history.csv, config.json, report.png, in {html.escape(str(run_dir.resolve()))}.</p>
</body></html>
"""
    return atomic_write(run_dir / "report.html", lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
