"""What every trainer shares, whatever it trains (speech: :mod:`blasr.acoustic`, images: :mod:`blasr.image`).

* :mod:`~blasr.training.loop` — :class:`Trainer`: the epoch loop, metric sums, the non-finite-loss stop,
  logging, TensorBoard, ``metrics.jsonl``, atomic checkpoints and exact resume (``--resume auto`` falls back
  past unreadable checkpoints); :func:`run`: one job under ``torchrun`` or not.
* :mod:`~blasr.training.plots` — ``curves.png``.
* :mod:`~blasr.training.averaging` — model selection: the last or best epoch, checkpoint averaging (icefall's
  ``--avg``).
* :mod:`~blasr.training.sync_bn` — batch-norm statistics over processes (GPU and CPU).

Knows nothing of speech or images: each domain subclasses :class:`Trainer`.
"""

from blasr.training.averaging import average_state_dicts, averaged_epochs, choose_epoch
from blasr.training.loop import NonFiniteLossError, NoUsableCheckpointError, RunOptions, Step, Trainer, run
from blasr.training.plots import Curve, plot_curves

__all__ = ["Curve", "NoUsableCheckpointError", "NonFiniteLossError", "RunOptions", "Step", "Trainer",
           "average_state_dicts", "averaged_epochs", "choose_epoch", "plot_curves", "run"]
