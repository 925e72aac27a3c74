"""SimCLR (course lecture on self-supervision): two augmented views of every image, z = g(f(x)),
NT-Xent between the views; the representation f is judged by a linear probe (logistic regression on
frozen features of the training split, scored on val/test)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlrun.data.base import DataModule, batch_generator
from dlrun.data.two_views import TwoViews, TwoViewsOptions, serve_two_views
from dlrun.errors import DlrunError
from dlrun.run_logger import RunLogger
from dlrun.tasks.logistic_probe import LogisticProbe, embed_batches

EVAL_VIEW_SEED = 0  # evaluation views are the same every epoch, so val/loss is comparable across epochs


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside a DDP wrapper."""
    return getattr(model, "module", model)


class SimCLRTask:
    """Training batches come as (view1, view2, labels) (installed on the data's loader in setup);
    the labels are never used for training. Metrics: loss (NT-Xent) and pair_acc (share of views whose
    nearest other view is their partner); test/probe_acc at the end, `probe/acc` (val) in TensorBoard
    every probe_every_n_epochs.

    augment: TwoViews settings (crop_scale, crop_ratio, flip_p, jitter, jitter_p, grey_p, blur_p, blur_sigma).
    probe_train_samples: fit the probe on the first N training images only (null: all).
    """

    def __init__(self, loss: nn.Module, augment: TwoViewsOptions | None = None, probe_every_n_epochs: int | None = None,
                 probe_steps: int = 100, probe_weight_decay: float = 1e-4, probe_train_samples: int | None = None) -> None:
        if probe_every_n_epochs is not None and probe_every_n_epochs < 0:
            raise ValueError(f"probe_every_n_epochs must be >= 0 or null, got {probe_every_n_epochs}")
        if probe_train_samples is not None and probe_train_samples < 1:
            raise ValueError(f"probe_train_samples must be >= 1 or null, got {probe_train_samples}")
        self.augment = dict(augment or {})
        TwoViews([0.0], [1.0], **self.augment)  # validates the settings before any data is loaded
        self.loss = loss
        self.probe_every = probe_every_n_epochs or 0
        self.probe_steps = probe_steps
        self.probe_weight_decay = probe_weight_decay
        LogisticProbe(2, probe_steps, probe_weight_decay)  # validates
        self.probe_train_samples = probe_train_samples
        self.data: Any = None
        self.device = torch.device("cpu")
        self.num_classes = 0
        self.views: TwoViews | None = None
        self.test_features: tuple[torch.Tensor, torch.Tensor] | None = None

    def setup(self, data: DataModule, device: torch.device) -> None:
        self.data, self.device = data, device
        self.num_classes = int(data.meta.get("num_classes") or 0)
        channels = int(data.meta.get("in_channels") or 1)
        mean = data.meta.get("mean") or [0.0] * channels
        std = data.meta.get("std") or [1.0] * channels
        self.views = TwoViews(mean, std, **self.augment)
        serve_two_views(data, self.views)
        self.loss.to(device)

    @staticmethod
    def encoder_of(model: nn.Module) -> nn.Module:
        """The SimCLR network (with `features` = f and a projection head), or a one-line error."""
        net = unwrap(model)
        if not (hasattr(net, "projection") and callable(getattr(net, "features", None))):
            raise DlrunError(f"task=simclr needs model=simclr (an encoder and a projection head), got {type(net).__name__}")
        return net

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if len(batch) < 3:
            raise DlrunError("task=simclr: training batches must be (view1, view2, labels); the data's loader was not set up for two views")
        self.encoder_of(model)
        first, second = batch[0], batch[1]
        z1, z2 = model(torch.cat([first, second])).chunk(2)  # one forward: batch norm sees all 2N views
        loss = self.loss(z1, z2)
        return loss, {"pair_acc": self.loss.pair_accuracy(z1.detach(), z2.detach())}

    def metric_names(self) -> list[str]:
        """What evaluate reports for validation (checked against trainer.monitor before training)."""
        return ["loss", "pair_acc"]

    def evaluate(self, model: nn.Module, batches: Iterable[Any], split: str) -> dict[str, float]:
        """NT-Xent and pair_acc on fixed views of the split; on test also the linear probe."""
        net = self.encoder_of(model)
        assert self.views is not None
        loss_sum, acc_sum, count = 0.0, 0.0, 0
        features, labels = [], []
        for number, batch in enumerate(batches):
            x, y = batch[0], batch[1]
            if len(x) < 2:
                continue  # NT-Xent needs a negative
            first, second = self.views(x, batch_generator(EVAL_VIEW_SEED, 0, number))
            z1, z2 = model(torch.cat([first, second])).chunk(2)
            loss_sum += float(self.loss(z1, z2)) * len(x)
            acc_sum += float(self.loss.pair_accuracy(z1, z2)) * len(x)
            count += len(x)
            if split == "test":
                features.append(net.features(x).float().flatten(1))
                labels.append(y)
        metrics = {"loss": loss_sum / count, "pair_acc": acc_sum / count} if count else {}
        if split == "test" and features and self.num_classes:
            test = (torch.cat(features), torch.cat(labels))
            self.test_features = test
            metrics["probe_acc"] = self.probe(net).accuracy(*test)
        return metrics

    def probe(self, net: nn.Module) -> LogisticProbe:
        """The logistic regression fitted on f's features of the training split (eval mode, no_grad)."""
        train = embed_batches(net.features, self.data.loader("train"), self.device, self.probe_train_samples)
        return LogisticProbe(self.num_classes, self.probe_steps, self.probe_weight_decay).fit(*train)

    def on_epoch_end(self, model: nn.Module, epoch: int, history: list[dict[str, float]], logger: RunLogger) -> None:
        """Every probe_every_n_epochs: the probe's validation accuracy as `probe/acc` in TensorBoard."""
        if not (self.probe_every and epoch % self.probe_every == 0 and self.num_classes):
            return
        net = self.encoder_of(model)
        was_training = net.training
        net.eval()
        val = embed_batches(net.features, self.data.loader("val"), self.device)
        acc = self.probe(net).accuracy(*val)
        net.train(was_training)
        logger.scalars({"probe/acc": acc}, epoch)

    def on_train_step(self, model: nn.Module, step: int, logger: RunLogger) -> None:
        """No per-step figures."""

    def state_dict(self) -> dict[str, Any]:
        """Nothing carried between batches: the views depend on (seed, epoch, batch) alone."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""

    def write_artifacts(self, model: nn.Module, data: DataModule, run_dir: Path, logger: RunLogger) -> None:
        """A PCA scatter of the test features coloured by class (what the probe separates)."""
        if self.test_features is None:
            return
        from dlrun.plots.pca_scatter import pca_scatter_figure

        features, labels = self.test_features
        keep = slice(0, 2000)
        figure = pca_scatter_figure(features[keep].cpu(), labels[keep].cpu(), "SimCLR features f(x), test split (PCA)")
        logger.figure("test/features_pca", figure, png_name="features_pca.png")
