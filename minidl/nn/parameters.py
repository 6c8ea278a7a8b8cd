"""A network's parameters and its updater's state, keyed by (layer, parameter).

Inside, every parameter is a Tensor in ``param_tables[layer key][param name]`` and its updater
state (Adam's moments, Nesterovs' velocity) is ``updater_state[(layer key, param name)]``. The
layer key is a vertex name ("fc2") or a layer index ("0"); parameter names are a layer's own
("W", "b", "gamma", "mean"). Keeping the two parts apart is what makes "everything of layer
``dense``" exact: a prefix test on flat strings would also match ``dense_1``.

DL4J names a parameter by one flat string, ``"<layer>_<param>"`` ("fc2_W", "0_b"); those strings
exist only at the API (``param_table()``, ``get_param``, ``compute_gradient_and_score``) and in
model files (``minidl.nn.serializer``), made by ``flat_key``.
"""

import numpy as np

from minidl.autograd import Tensor
from minidl.backend import device_of, get_array_module, get_device, to_cpu, to_device


def flat_key(layer_key, param):
    """DL4J's name of a parameter: ``flat_key("fc2", "W") == "fc2_W"``."""
    return f"{layer_key}_{param}"


class DerivedCache:
    """Arrays computed from one network's parameters (``minidl.nn.fusion``'s folded weights,
    ``minidl.nn.precision``'s half copies), kept on the network in ``entries``: a subclass
    stores each with its ``tables_key`` and uses it again while the key is the same."""

    attribute = None  # the network attribute that holds the cache

    def __init__(self):
        self.entries = {}

    @classmethod
    def of(cls, network):
        """The network's cache, made on first use."""
        cache = getattr(network, cls.attribute, None)
        if cache is None:
            cache = cls()
            setattr(network, cls.attribute, cache)
        return cache


class ParameterStore:
    """The parameters of the layers a subclass lists in ``layer_items()`` (see module docstring).

    ``params()`` is one flat copy in layer order, W then b, as DL4J's ``params()``.
    """

    param_tables = None
    param_version = 0  # bumped whenever parameters are written in place (minidl.nn.fusion)

    def layer_items(self):
        """[(key, layer)] in topological order, for every layer (not parameter-free vertices)."""
        raise NotImplementedError

    def tables_key(self, *names):
        """What the parameters of the layers ``names`` are now, for a cache of arrays computed
        from them (``minidl.nn.fusion``'s folded weights, ``minidl.nn.precision``'s half copies):
        the same key means the same parameter objects, written in place by nobody since
        (``param_version``)."""
        return (self.param_version, tuple((id(t), id(t.data)) for name in names
                                          for t in self.param_tables[name].values()))

    @property
    def dtype(self):
        return np.dtype(self.conf.defaults.data_type or "float32")

    # -- creation --------------------------------------------------------------------------
    def init(self, params=None, clone_params=True):
        """Create the parameters: drawn from the configuration's seed, or copied from ``params``
        (a flat vector as ``params()`` returns). Returns self. On a network that has parameters
        already, nothing is drawn again (DL4J's init() returns at once); ``params``, if given,
        are copied in (DL4J would ignore them).

        ``clone_params`` is accepted for DL4J's ``init(INDArray parameters, boolean
        cloneParametersArray)``, where ``False`` makes the network use the given array itself as
        the storage of its parameters. minidl keeps one array per parameter, not views into one
        flat vector, so it cannot share ``params``' memory: the values are always copied, whatever
        ``clone_params`` says.
        """
        if self.param_tables is None:  # as DL4J, a second init() keeps the parameters: code
            # that calls init() on a restored or trained network must not lose its weights
            rng = np.random.default_rng(self.conf.seed)
            self._build_tables({key: layer.init_params(rng, self.dtype)
                                for key, layer in self.layer_items()})
        if params is not None:
            self.set_params(params)
        return self

    def init_from_tables(self, tables):
        """Create the parameters from ``{layer key: {param: array}}`` with no random draws.

        Loading pretrained weights this way skips initialising 138 million numbers only to
        overwrite them. Every parameter of every layer must be given, with its exact shape.
        """
        arrays = {}
        for key, layer in self.layer_items():
            given = tables.get(key, {})
            for name, shape in layer.param_shapes().items():
                if name not in given:
                    raise ValueError(f"layer {layer.describe()}: no array given for parameter "
                                     f"'{flat_key(key, name)}'")
                if tuple(given[name].shape) != tuple(shape):
                    raise ValueError(f"layer {layer.describe()}: parameter '{flat_key(key, name)}' "
                                     f"has shape {tuple(given[name].shape)}, expected "
                                     f"{tuple(shape)}")
            arrays[key] = {name: np.asarray(given[name], dtype=self.dtype)
                           for name in layer.param_shapes()}
        self._build_tables(arrays)
        return self

    def tables_from_flat(self, arrays):
        """({layer key: {param: array}}, sorted unknown names) from DL4J's flat
        {"<layer>_<param>": array}, as files hold them: matched against this network's own
        parameters, never split at an underscore (``conv2_block1_1_conv_W`` has five)."""
        expected = {flat_key(key, param): (key, param)
                    for key, layer in self.layer_items() for param in layer.param_shapes()}
        tables, unknown = {}, []
        for name, value in arrays.items():
            if name in expected:
                key, param = expected[name]
                tables.setdefault(key, {})[param] = value
            else:
                unknown.append(name)
        return tables, sorted(unknown)

    def _build_tables(self, arrays):
        self.param_tables = {
            key: {name: Tensor(to_device(value), requires_grad=_trainable(layer, name),
                               name=flat_key(key, name))
                  for name, value in arrays[key].items()}
            for key, layer in self.layer_items()}
        # Dropout masks draw from their own generator: seeded like the weights (so reproducible)
        # but not with the same seed, or the masks would replay the weight initialisation's draws.
        self._rng = np.random.default_rng(self.conf.seed + 1)
        self.updater_state = {}

    def _require_init(self):
        if self.param_tables is None:
            raise RuntimeError(f"{type(self).__name__} has no parameters yet: call init() first")

    def stop_training(self, key):
        """Layer ``key``'s parameters get no gradient from now on, and its updater state goes."""
        for tensor in self.param_tables.get(key, {}).values():
            tensor.requires_grad = False
            tensor.grad = None
        for state_key in [k for k in self.updater_state if k[0] == key]:
            del self.updater_state[state_key]

    # -- the flat DL4J view ----------------------------------------------------------------
    def param_items(self):
        """(layer key, param name, Tensor) of every parameter, in ``params()`` order."""
        self._require_init()
        for key, table in self.param_tables.items():
            for name, tensor in table.items():
                yield key, name, tensor

    def param_table(self, backprop_params_only=False):
        """{"<layer>_<param>": array} of the live parameter arrays (not copies)."""
        self.param_version += 1  # the caller may write into them (see get_param)
        return {flat_key(key, name): t.data for key, name, t in self.param_items()
                if not backprop_params_only or t.requires_grad}

    def get_param(self, key):
        """The live array of parameter ``key`` (DL4J's ``getParam`` gives a view too): writing
        into it changes the network, so it counts as a change of the parameters, and the
        inference fusion (minidl.nn.fusion) folds the weights again at the next forward. An
        array kept and written after that forward is not seen: ask for it again, or use
        ``set_param``."""
        self.param_version += 1
        return self._tensor(key).data

    def set_param(self, key, value):
        """Copy ``value`` into parameter ``key`` (shape checked)."""
        tensor = self._tensor(key)
        value = to_device(np.asarray(to_cpu(value)), device_of(tensor.data))
        if value.shape != tensor.data.shape:
            raise ValueError(f"set_param({key!r}): expected shape {tuple(tensor.data.shape)}, got "
                             f"{tuple(value.shape)}")
        tensor.data[...] = value
        self.param_version += 1

    def _tensor(self, key):
        for layer_key, name, tensor in self.param_items():
            if flat_key(layer_key, name) == key:
                return tensor
        raise KeyError(f"no parameter {key!r}; parameters: {list(self.param_table())}")

    def params(self):
        """All parameters as one flat copy, layer by layer in order (W then b)."""
        arrays = [t.data.ravel() for _, _, t in self.param_items()]
        xp = get_array_module(*arrays) if arrays else np
        return xp.concatenate(arrays) if arrays else np.zeros(0, self.dtype)

    def set_params(self, flat):
        """Copy a flat vector (as returned by ``params()``) into the parameters."""
        flat = flat.data if isinstance(flat, Tensor) else flat
        expected = self.num_params()
        if flat.size != expected:
            raise ValueError(f"set_params: expected {expected} values, got {flat.size}")
        offset = 0
        for _, _, tensor in self.param_items():
            n = tensor.data.size
            chunk = to_device(to_cpu(flat.ravel()[offset:offset + n]), device_of(tensor.data))
            tensor.data[...] = chunk.reshape(tensor.data.shape)
            offset += n
        self.param_version += 1

    def num_params(self, backprop_only=False):
        return int(sum(t.data.size for _, _, t in self.param_items()
                       if not backprop_only or t.requires_grad))

    def layer_num_params(self, key):
        return int(sum(t.data.size for t in self.param_tables[key].values()))

    def copy_params_from(self, other, key_map):
        """Copy, by layer, ``other``'s parameters into this network's: ``key_map`` maps this
        network's layer keys to ``other``'s. Shapes must agree."""
        for key, other_key in key_map.items():
            source = other.param_tables[other_key]
            for name, tensor in self.param_tables[key].items():
                value = source[name].data
                if value.shape != tensor.data.shape:
                    raise ValueError(f"layer {key!r}: parameter {name} of the original has shape "
                                     f"{tuple(value.shape)} but the edited layer needs "
                                     f"{tuple(tensor.data.shape)}; use n_out_replace / "
                                     f"n_in_replace to change sizes")
                tensor.data[...] = value
        self.param_version += 1

    # -- devices ---------------------------------------------------------------------------
    @property
    def device(self):
        """Where the parameters live, ``"cpu"`` or ``"gpu"``: input batches are moved there.

        Following the parameters (not the default device) lets ``net.to("gpu")`` alone put a
        network and its data on the GPU.
        """
        for _, _, tensor in self.param_items():
            return device_of(tensor.data)
        return get_device()

    def to(self, device):
        """Move parameters and updater state to ``"cpu"`` or ``"gpu"``; returns self."""
        for _, _, tensor in self.param_items():
            tensor.data = to_device(tensor.data, device)
        self.updater_state = {k: {n: to_device(a, device) for n, a in s.items()}
                              for k, s in self.updater_state.items()}
        return self


def _trainable(layer, name):
    return not layer.frozen and layer.param_kind(name) != "state"
