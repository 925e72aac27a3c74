"""Retrieval metrics: the course's average-precision exercise, recall@k, nearest class mean."""

from __future__ import annotations

import pytest
import torch

from dlrun.tasks.retrieval import average_precision, class_means, nearest_class_mean, retrieval_metrics


def test_average_precision_of_the_course_example() -> None:
    # Y = [1,0,0,1,1], distances from x1 = [0,5,2,3,1]; x1 is the query, ranking x5, x3, x4, x2
    distances = torch.tensor([[5.0, 2.0, 3.0, 1.0]])
    relevant = torch.tensor([[False, False, True, True]])
    assert average_precision(distances, relevant).item() == pytest.approx(0.8333, abs=1e-4)


def test_average_precision_edge_cases() -> None:
    distances = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    relevant = torch.tensor([[True, True, False], [False, False, True], [False, False, False]])
    ap = average_precision(distances, relevant)
    assert ap[0].item() == 1.0
    assert ap[1].item() == pytest.approx(1 / 3)
    assert ap[2].isnan()


def test_retrieval_metrics_exclude_the_query_itself() -> None:
    # 1-D embeddings: the course example's distances from x1 are the positions themselves
    emb = torch.tensor([[0.0], [5.0], [2.0], [3.0], [1.0]])
    labels = torch.tensor([1, 0, 0, 1, 1])
    # queries: x1 0.8333; x2 (rank x4,x3,x5,x1): 1/2; x3 (x4,x5 tie at 1, x1, x2): 1/4;
    # x4 (x3, x2/x5 tie at 2, x1): stable order x2 then x5 -> (1/3 + 2/4)/2; x5 (x1, x3, x4, x2): (1 + 2/3)/2
    expected_map = (5 / 6 + 1 / 2 + 1 / 4 + (1 / 3 + 1 / 2) / 2 + (1 + 2 / 3) / 2) / 5
    metrics = retrieval_metrics(emb, labels, recall_at=(1, 2), chunk=2)
    assert metrics["map"] == pytest.approx(expected_map, abs=1e-6)
    # nearest neighbour: x1->x5 yes, x2->x4 no, x3->x4 (tie, first) no, x4->x3 no, x5->x1 yes
    assert metrics["recall@1"] == pytest.approx(2 / 5)
    # two nearest (ties in item order): x1 {x5,x3} yes, x2 {x4,x3} yes, x3 {x4,x5} no, x4 {x3,x2} no, x5 {x1,x3} yes
    assert metrics["recall@2"] == pytest.approx(3 / 5)


def test_nearest_class_mean_uses_normalized_means() -> None:
    ref = torch.tensor([[2.0, 0.0], [4.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    means, seen = class_means(ref, torch.tensor([0, 0, 2, 2]), num_classes=3)
    assert torch.allclose(means[0], torch.tensor([1.0, 0.0])) and torch.allclose(means[2], torch.tensor([0.0, 1.0]))
    assert seen.tolist() == [True, False, True]
    queries = torch.tensor([[10.0, 1.0], [0.1, 0.2], [0.0, -1.0]])
    # the unseen class 1 (mean 0) must never win, even for a query near the origin
    assert nearest_class_mean(queries, means, seen).tolist() == [0, 2, 0]
