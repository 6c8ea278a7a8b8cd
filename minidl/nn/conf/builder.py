"""Fluent builders generated from configuration dataclasses.

DL4J configures everything through builders: ``DenseLayer.Builder().nIn(4).nOut(3).build()``.
Here a configuration class is a plain dataclass, and its ``Builder`` is generated from its fields:
every field gets a setter under its own name and under DL4J's camelCase spelling, a setter called
with several values stores them as a tuple (``kernelSize(3, 3)``), and ``build()`` calls the
dataclass constructor, which validates. No setter is written out by hand. A builder's own methods
(``build``, ``list``, ``graph_builder``) answer to their camelCase spelling too (``graphBuilder``).
"""

import dataclasses
import functools
import inspect

from minidl.naming import snake_case


class Builder:
    """Collects field values for a configuration class, then ``build()`` makes the instance.

    Positional arguments map onto the class's ``builder_args`` field names, so that
    ``OutputLayer.Builder(LossFunction.MCXENT)`` or ``ConvolutionLayer.Builder(3, 3)`` work.
    """

    target = None  # the dataclass this builder makes; set on each generated subclass

    def __init__(self, *args, **kwargs):
        self._values = {}
        spec = getattr(self.target, "builder_args", ())
        if args:
            self._positional(spec, args)
        for key, value in kwargs.items():
            self._set(key, (value,))

    def _positional(self, spec, args):
        what = f"{self.target.__name__}.Builder"
        self._values.update(positional_settings(self.target, args, what))

    def _field(self, name):
        """The field a setter ``name`` sets; None for a setting in the target's
        ``builder_ignored`` (DL4J tuning knobs with no meaning here: accepted, then dropped)."""
        names = {f.name for f in dataclasses.fields(self.target)}
        key = snake_case(name)
        key = getattr(self.target, "builder_aliases", {}).get(key, key)
        if key in getattr(self.target, "builder_ignored", ()):
            return None
        if key not in names:
            raise AttributeError(f"{self.target.__name__}.Builder has no setting {name!r}; "
                                 f"settings: {', '.join(sorted(names))}; "
                                 f"methods: {', '.join(self._methods())}")
        return key

    @classmethod
    def _methods(cls):
        return sorted(n for n in dir(cls) if not n.startswith("_")
                      and inspect.isfunction(getattr(cls, n)))

    def _set(self, name, values):
        key = self._field(name)
        if key is not None:
            self._values[key] = values[0] if len(values) == 1 else tuple(values)
        return self

    def __getattr__(self, name):
        # Only names that are not attributes get here: setters, and DL4J's camelCase spelling
        # of the builder's own methods (graphBuilder -> graph_builder), by naming.py's one rule.
        if name.startswith("_"):
            raise AttributeError(name)
        method = snake_case(name)
        if method != name and method in self._methods():
            return getattr(self, method)
        self._field(name)  # fail now, at the misspelt setter, not later at build()
        return lambda *values: self._set(name, values)

    def build(self):
        return self.target(**self._values)


def positional_settings(target, args, what):
    """{field: value} for positional ``args`` in ``target.builder_args`` order, as DL4J's
    constructors and builders take them: ``ConvolutionLayer.Builder(3, 3)`` means
    kernel_size=(3, 3), as DL4J's int... varargs do."""
    spec = getattr(target, "builder_args", ())
    if len(args) == 2 and all(isinstance(a, int) for a in args) and spec and \
            spec[0] in getattr(target, "pair_fields", ()):
        args = (tuple(args),)
    if len(args) > len(spec):
        raise TypeError(f"{what} takes at most {len(spec)} positional arguments "
                        f"({', '.join(spec)}), got {len(args)}")
    return dict(zip(spec, args))


def _dl4j_constructor(cls):
    """Let ``cls(PoolingType.AVG)`` mean what DL4J's ``new GlobalPoolingLayer(PoolingType.AVG)``
    means. A layer's first dataclass field is its ``name``, so without this the pooling type
    would silently become the name; a leading string is still the name."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        if args and not isinstance(args[0], str) and args[0] is not None:
            settings = positional_settings(cls, args, cls.__name__)
            clash = sorted(set(settings) & set(kwargs))
            if clash:
                raise TypeError(f"{cls.__name__}: {clash[0]} given twice, by position and by name")
            args, kwargs = (), {**settings, **kwargs}
        init(self, *args, **kwargs)
    cls.__init__ = __init__


def with_builder(cls):
    """Class decorator: give the dataclass ``cls`` a generated ``Builder`` subclass, and, for a
    layer (first field ``name``) with ``builder_args``, DL4J's positional constructor."""
    cls.Builder = type("Builder", (Builder,), {"target": cls,
                                               "__qualname__": f"{cls.__name__}.Builder"})
    fields = dataclasses.fields(cls)
    if getattr(cls, "builder_args", ()) and fields and fields[0].name == "name":
        _dl4j_constructor(cls)
    return cls
