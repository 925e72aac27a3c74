"""Retrieval-style evaluation of embeddings: nearest class mean, average precision, recall@k."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def squared_distances(queries: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    """(Q, G) squared Euclidean distances (same ranking as Euclidean)."""
    q2 = queries.pow(2).sum(1, keepdim=True)
    g2 = gallery.pow(2).sum(1)
    return (q2 + g2 - 2 * queries @ gallery.T).clamp_min(0)


def average_precision(distances: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """Per query (row), the non-interpolated average precision of the ranking by ascending distance:
    the mean over the relevant items of the precision at their rank (sklearn's
    average_precision_score with scores = -distance, up to tie order). NaN for a query with no
    relevant item. Columns with distance +inf are ranked last but still count."""
    return average_precision_of_hits(ranked_hits(distances, relevant))


def ranked_hits(distances: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """(Q, G) float: 1 where the item at each rank (ascending distance, ties in column order) is relevant."""
    return relevant.gather(1, distances.argsort(dim=1, stable=True)).float()


def average_precision_of_hits(hits: torch.Tensor) -> torch.Tensor:
    """Per row of ranked hits: the mean precision at the relevant ranks (NaN without any)."""
    ranks = torch.arange(1, hits.shape[1] + 1, device=hits.device, dtype=torch.float32)
    precision_at_hits = hits.cumsum(1) / ranks * hits
    num_relevant = hits.sum(1)
    ap = precision_at_hits.sum(1) / num_relevant.clamp_min(1)
    return torch.where(num_relevant > 0, ap, torch.full_like(ap, float("nan")))


def retrieval_metrics(
    embeddings: torch.Tensor, labels: torch.Tensor, recall_at: Sequence[int] = (1,), chunk: int = 1024
) -> dict[str, float]:
    """Every item queries all the others of the same set: mean average precision ('map') and
    recall@k ('recall@k': share of queries with a same-class item among their k nearest). Ties in
    distance rank in item order, for both."""
    n = len(embeddings)
    if n < 2:
        return {}
    ap_sum, ap_count = 0.0, 0
    recall_hits = {k: 0 for k in recall_at}
    for start in range(0, n, chunk):
        rows = torch.arange(start, min(start + chunk, n), device=embeddings.device)
        dist = squared_distances(embeddings[rows], embeddings)
        relevant = labels[rows, None] == labels[None, :]
        dist[torch.arange(len(rows)), rows] = float("inf")  # a query does not retrieve itself
        relevant[torch.arange(len(rows)), rows] = False
        hits = ranked_hits(dist, relevant)
        ap = average_precision_of_hits(hits)
        has_relevant = ~ap.isnan()
        ap_sum += float(ap[has_relevant].sum())
        ap_count += int(has_relevant.sum())
        for k in recall_at:
            recall_hits[k] += int(hits[:, : min(k, n - 1)].any(1).sum())
    metrics = {"map": ap_sum / max(ap_count, 1)}
    metrics.update({f"recall@{k}": hits / n for k, hits in recall_hits.items()})
    return metrics


def class_means(embeddings: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, D) L2-normalized mean embedding per class (lab 4) and a (C,) mask of classes seen."""
    sums = torch.zeros(num_classes, embeddings.shape[1], device=embeddings.device).index_add_(0, labels, embeddings)
    counts = torch.bincount(labels, minlength=num_classes)
    means = sums / counts.clamp_min(1)[:, None]
    return F.normalize(means, dim=1), counts > 0


def nearest_class_mean(embeddings: torch.Tensor, means: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """Predicted class of each L2-normalized embedding: the closest class mean (squared L2)."""
    dist = squared_distances(F.normalize(embeddings, dim=1), means)
    dist[:, ~seen] = float("inf")
    return dist.argmin(1)
