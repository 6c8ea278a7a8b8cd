"""What ``fit-featurized`` and ``transfer`` share: the frozen part of a model (with a new head
where it needs one), the epochs of training on featurized data with one progress display, the
TensorBoard and plot outputs, and the test part's evaluation."""

from minidl.cli.models import FEATURE_VERTEX
from minidl.cli.reporting import UsageError


def vertex(net, layer):
    """``--layer`` as the network's methods take it (a MultiLayerNetwork's layers are indices;
    a layer name a featurized folder's manifest recorded is found by name too)."""
    keys = {net.display_name(key): key for key in net.wiring.vertices}
    try:
        return net.vertex_from_text(keys.get(str(layer), str(layer)))
    except ValueError as error:
        raise UsageError(str(error)) from None


def default_layer(net, args):
    """Where to freeze when ``--layer`` is not given: the zoo model's usual feature vertex
    (VGG: fc2; ResNet50, MobileNetV2: their global pooling), a model's own frozen layers (None),
    the vertex a classifier output reads, or else (a model without its top) the last vertex."""
    if any(layer.frozen for _, layer in net.layer_items()):
        return None
    if args.model.lower() in FEATURE_VERTEX and not args.no_top:
        return FEATURE_VERTEX[args.model.lower()]
    wiring = net.wiring
    output = wiring.outputs[0]
    if _is_classifier(wiring.vertices.get(output)):
        return net.display_name(wiring.vertex_inputs[output][0])
    return net.display_name(output)


def _is_classifier(layer):
    """An output layer (it has a loss) or a softmax layer (a pretrained model's predictions)."""
    from minidl.nn.conf import Activation
    return getattr(layer, "loss", None) is not None or \
        getattr(layer, "activation", None) is Activation.SOFTMAX


def with_head(net, layer, n_classes, args):
    """``net`` frozen up to ``layer`` with a new head of ``n_classes`` (as ``args`` say:
    --hidden, --dropout, --learning-rate, --output-vertex, --seed), or ``net`` itself when it
    has frozen layers (a model trained by these commands: its head stays)."""
    from transfer.heads import transfer_head
    if any(l.frozen for _, l in net.layer_items()):
        if args.hidden is not None:
            raise UsageError("the model has frozen layers and a trained head already: --hidden "
                             "builds a new head on a model without frozen layers")
        return net
    try:
        return transfer_head(net, n_classes, args.seed, args.learning_rate, vertex(net, layer),
                             args.output_vertex, hidden=args.hidden, dropout=args.dropout)
    except ValueError as error:
        raise UsageError(str(error)) from None


def train_head(helper, train, test, args, bar=None):
    """Fit the unfrozen part of ``helper`` on the featurized ``train`` for ``args.epochs``
    epochs; returns the test part's last Evaluation (None without a test part).

    With --tensorboard or --plot the test part is evaluated after every epoch (features: cheap)
    for their curves; ``bar`` (a tqdm) advances by one per minibatch."""
    curves = {"score": [], "accuracy": []}
    listeners = _listeners(helper, args, bar)
    evaluation = None
    try:
        for epoch in range(args.epochs):
            scores = listeners[0].scores
            start = len(scores)
            helper.fit_featurized(train)
            curves["score"].append(sum(s for _, s in scores[start:]) / max(1, len(scores) - start))
            if test is not None and (args.plot or args.tensorboard or epoch == args.epochs - 1):
                evaluation = helper.unfrozen.evaluate(test, train.get_labels())
                curves["accuracy"].append(evaluation.accuracy())
                for listener in listeners[1:]:
                    listener.log_evaluation(evaluation, helper.unfrozen.get_iteration_count())
    finally:
        for listener in listeners[1:]:
            listener.close()
    if args.plot:
        from transfer.plot import save_panels
        save_panels([("mean training score per epoch", {"train": curves["score"]}, False),
                     ("test accuracy per epoch", {"test": curves["accuracy"]}, True)],
                    args.plot)
        print(f"training curves saved to {args.plot}")
    return evaluation


def _listeners(helper, args, bar):
    """[scores per iteration (advancing ``bar``), the TensorBoard listener if asked for]."""
    from minidl.nn.listeners import CollectScoresListener
    from minidl.nn.tensorboard import TensorBoardListener

    class Scores(CollectScoresListener):
        def iteration_done(self, model, iteration, epoch):
            super().iteration_done(model, iteration, epoch)
            if bar is not None:
                bar.update(1)
    listeners = [Scores()]
    if args.tensorboard:
        listeners.append(TensorBoardListener(args.tensorboard, histogram_frequency=10))
    helper.unfrozen.set_listeners(listeners)
    return listeners

