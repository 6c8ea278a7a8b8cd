"""Differentiable operations. Each takes and returns Tensors; see the submodules for the math."""

from minidl.ops.math import (add, sub, mul, div, neg, power, exp, log, matmul, sum, mean, max,
                             reshape, transpose, broadcast_to, get_item, concat, flatten, sum_to)
from minidl.ops.activations import activation, relu, sigmoid, tanh, softmax
from minidl.ops.linear import linear
from minidl.ops.conv import conv2d
from minidl.ops.depthwise import depthwise_conv2d
from minidl.ops.pooling import max_pool2d, avg_pool2d, sum_pool2d, pnorm_pool2d, global_pool
from minidl.ops.losses import (mse, mae, l2, binary_cross_entropy, cross_entropy,
                               softmax_cross_entropy)
from minidl.ops.dropout import dropout
from minidl.ops.batch_norm import batch_norm
from minidl.ops.padding import zero_pad2d
