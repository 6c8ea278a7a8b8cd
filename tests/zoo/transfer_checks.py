"""The transfer check every zoo model passes: a new head on its pooled features, trained whole
and through TransferLearningHelper, leaves the frozen part (batch-norm statistics included) as
it was and gives the same head both ways."""

import numpy as np

from transfer import TransferLearningHelper


def check_transfer_keeps_the_frozen_part(net, edited, pool, n_features, batch, bn_mean):
    """``edited``: ``net`` frozen up to ``pool`` with a fresh ``predictions`` head; ``bn_mean``:
    a running-mean parameter of ``net``, which the edit must not touch in the original."""
    assert edited.get_layer(pool).frozen and not edited.get_layer("predictions").frozen
    frozen_before = {k: v.copy() for k, v in edited.param_table().items()
                     if not k.startswith("predictions_")}
    head_before = edited.get_param("predictions_W").copy()

    helper = TransferLearningHelper(edited.clone())
    assert helper.graph_inputs == [pool]
    features = helper.featurize(batch)
    assert features.features.shape == (len(batch.features), n_features)
    # featurizing folds each batch norm into its convolution (minidl.nn.fusion), feed_forward
    # keeps every activation and does not: the same numbers up to float32 rounding
    np.testing.assert_allclose(features.features, net.feed_forward(batch.features)[pool],
                               rtol=1e-5, atol=1e-5)
    for _ in range(2):
        edited.fit(batch)  # the whole graph: the frozen part runs in inference mode
        helper.fit_featurized(features)
    # running means and variances (and every other frozen array) are untouched by training
    for key, value in frozen_before.items():
        np.testing.assert_array_equal(edited.get_param(key), value)
        np.testing.assert_array_equal(helper.network.get_param(key), value)
    assert not np.allclose(edited.get_param("predictions_W"), head_before)
    np.testing.assert_allclose(helper.network.get_param("predictions_W"),
                               edited.get_param("predictions_W"), rtol=1e-5, atol=1e-7)
    # the original network is never changed by the edit
    np.testing.assert_array_equal(net.get_param(bn_mean), frozen_before[bn_mean])
