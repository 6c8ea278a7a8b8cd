"""Training listeners: called by ``fit`` after every iteration (and around epochs)."""

import time

from minidl.naming import Dl4jNames


class TrainingListener(Dl4jNames):
    """Base: override ``iteration_done`` and, if needed, ``on_epoch_start`` / ``on_epoch_end``
    and ``on_gradient_calculation`` (DL4J's onGradientCalculation: the gradients are on the
    parameters, the update is not applied yet)."""

    def iteration_done(self, model, iteration, epoch):
        """After each iteration's update (``iteration`` counts from 0)."""

    def on_gradient_calculation(self, model):
        """Between the backward pass and the update of each iteration."""

    def on_epoch_start(self, model):
        """Before each epoch of ``fit(iterator)``."""

    def on_epoch_end(self, model):
        """After each epoch of ``fit(iterator)``."""


class ScoreIterationListener(TrainingListener):
    """Prints the score every ``print_iterations`` iterations, as DL4J's listener logs it."""

    def __init__(self, print_iterations=10, printer=print):
        self.print_iterations = max(1, int(print_iterations))
        self.printer = printer
        self.scores = []  # (iteration, score) of every reported iteration

    def iteration_done(self, model, iteration, epoch):
        if iteration % self.print_iterations == 0:
            self.scores.append((iteration, model.score()))
            self.printer(f"Score at iteration {iteration} is {model.score():.6f}")


class PerformanceListener(TrainingListener):
    """Reports speed every ``frequency`` iterations: the mean time per iteration since the last
    report, iterations/s and (when ``report_score``) the score; ``history`` keeps
    (iteration, seconds per iteration)."""

    def __init__(self, frequency=1, report_score=True, printer=print):
        self.frequency = max(1, int(frequency))
        self.report_score = report_score
        self.printer = printer
        self._last = None
        self.history = []  # (iteration, seconds per iteration)

    def iteration_done(self, model, iteration, epoch):
        now = time.perf_counter()
        if self._last is not None and iteration % self.frequency == 0:
            seconds = (now - self._last[1]) / max(1, iteration - self._last[0])
            self.history.append((iteration, seconds))
            text = f"iteration {iteration}; iteration time: {seconds * 1000:.1f} ms; " \
                   f"iterations/sec: {1 / seconds:.2f}"
            if self.report_score:
                text += f"; score: {model.score():.6f}"
            self.printer(text)
        if self._last is None or iteration % self.frequency == 0:
            self._last = (iteration, now)


class CollectScoresListener(TrainingListener):
    """Keeps (iteration, score) pairs in ``scores`` (for plots and tests)."""

    def __init__(self, frequency=1):
        self.frequency = max(1, int(frequency))
        self.scores = []

    def iteration_done(self, model, iteration, epoch):
        if iteration % self.frequency == 0:
            self.scores.append((iteration, model.score()))
