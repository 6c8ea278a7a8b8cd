"""TensorBoardListener: training statistics as TensorBoard event files (DL4J's StatsListener in
spirit; DL4J shows them in its own UI server, TensorBoard is what Python users have).

Written with tensorboardX (the optional extra ``minidl[tensorboard]``: no TensorFlow, no torch),
imported when the first listener is made, never at ``import minidl``. Tags:

``score``                       the minibatch score, every ``frequency`` iterations
``learning_rate``               the first trainable parameter's learning rate at that iteration
``norms/<layer>_<param>/...``   ``parameter``, ``gradient`` and ``update`` L2 norms per parameter
``params/<layer>_<param>``      histograms of the parameters, every ``histogram_frequency``
``gradients/<layer>_<param>``   and of their gradients
``test/accuracy``               accuracy of each evaluation (``test_data`` at every epoch's end,
                                or ``log_evaluation``), at the iteration it ran

Steps are the network's iteration counts, so curves of several ``fit`` calls line up. The
gradient is the loss's, before gradient normalization and the updater; the update is the change
the updater made to the parameter (before minus after).
"""

import numpy as np

from minidl.backend import to_cpu
from minidl.nn.listeners import TrainingListener


class TensorBoardListener(TrainingListener):
    """Writes score, learning rate, per-parameter norms and histograms to ``log_dir``.

    ``frequency``: log scalars every this many iterations; ``histogram_frequency``: histograms
    every this many (None: never); ``test_data``: an iterator evaluated at each epoch's end, its
    accuracy logged as ``test/accuracy``. Call ``close()`` (or use ``with``) to flush the file.
    """

    def __init__(self, log_dir, frequency=1, histogram_frequency=None, test_data=None,
                 labels=None):
        from minidl.io.optional import require
        SummaryWriter = require("tensorboardX", "TensorBoardListener").SummaryWriter
        self.log_dir = str(log_dir)
        self.frequency = max(1, int(frequency))
        self.histogram_frequency = histogram_frequency and max(1, int(histogram_frequency))
        self.test_data, self.labels = test_data, labels
        self.writer = SummaryWriter(self.log_dir)
        self._before = None  # trainable parameters before this iteration's update

    def _logs(self, iteration):
        return iteration % self.frequency == 0

    def _histograms(self, iteration):
        return bool(self.histogram_frequency) and iteration % self.histogram_frequency == 0

    def on_gradient_calculation(self, model):
        """Called between backward and update: norms (and histograms) of the gradients, and a
        copy of the parameters to measure the update against."""
        iteration = model.get_iteration_count()
        if not (self._logs(iteration) or self._histograms(iteration)):
            self._before = None
            return
        self._before = {}
        for tag, tensor in _trainable(model):
            gradient = to_cpu(tensor.grad)
            if self._logs(iteration):
                self.writer.add_scalar(f"norms/{tag}/gradient", _norm(gradient), iteration)
            if self._histograms(iteration):
                self.writer.add_histogram(f"gradients/{tag}", gradient, iteration)
            self._before[tag] = to_cpu(tensor.data).copy()

    def iteration_done(self, model, iteration, epoch):
        """Score, learning rate, parameter and update norms, parameter histograms."""
        if self._logs(iteration):
            self.writer.add_scalar("score", model.score(), iteration)
            rate = _learning_rate(model, iteration, epoch)
            if rate is not None:
                self.writer.add_scalar("learning_rate", rate, iteration)
        for tag, tensor in _trainable(model, with_gradient=False):
            value = to_cpu(tensor.data)
            if self._logs(iteration):
                self.writer.add_scalar(f"norms/{tag}/parameter", _norm(value), iteration)
                if self._before and tag in self._before:
                    self.writer.add_scalar(f"norms/{tag}/update",
                                           _norm(self._before[tag] - value), iteration)
            if self._histograms(iteration):
                self.writer.add_histogram(f"params/{tag}", value, iteration)
        self._before = None

    def on_epoch_end(self, model):
        """Evaluate ``test_data`` (when given) and log its accuracy."""
        if self.test_data is not None:
            self.log_evaluation(model.evaluate(self.test_data, self.labels),
                                model.get_iteration_count())

    def log_evaluation(self, evaluation, step):
        """Log an Evaluation's accuracy as ``test/accuracy`` at ``step`` (an iteration)."""
        self.writer.add_scalar("test/accuracy", evaluation.accuracy(), step)
        self.writer.flush()

    def close(self):
        """Flush and close the event file."""
        self.writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _trainable(model, with_gradient=True):
    """(``<layer>_<param>`` tag, tensor) of each trainable parameter (with a gradient now, when
    ``with_gradient``)."""
    layers = dict(model.layer_items())
    for key, name, tensor in model.param_items():
        if layers[key].frozen or (with_gradient and tensor.grad is None):
            continue
        yield f"{model.display_name(key) or key}_{name}", tensor


def _learning_rate(model, iteration, epoch):
    for key, layer in model.layer_items():
        if not layer.frozen:
            for name in model.param_tables[key]:
                updater = layer.updater_for(name)
                if updater.has_learning_rate():
                    return float(updater.get_learning_rate(iteration, epoch))
    return None


def _norm(array):
    return float(np.linalg.norm(np.asarray(array, dtype=np.float64).ravel()))
