"""DL4J's camelCase spelling for every snake_case method, by one rule instead of twins.

Classes that users reach through DL4J code derive from ``Dl4jNames``. Asking one of them (or an
instance) for a camelCase name it does not have, such as ``setFeatureExtractor`` or ``nOut``,
looks up the snake_case name (``set_feature_extractor``, ``n_out``) instead. Python only calls
``__getattr__`` for names that normal lookup cannot find, so the Pythonic names cost nothing.
DL4J's getters of plain fields need no method either: ``getLabel()`` returns ``label``.

The rule also runs the other way for subclasses a user writes: a method defined under its DL4J
name (``iterationDone`` in a ``TrainingListener``) overrides the snake_case method the engine
calls (``iteration_done``), as it would in Java.
"""

import re

_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])"
                       # DL4J's getters of one-letter-prefixed fields: getnLayers, setnIn
                       r"|(?<=^[gs]et)(?=[a-z][A-Z])")


def snake_case(name):
    """``setFeatureExtractor`` -> ``set_feature_extractor``; ``nOut`` -> ``n_out``; ``l2Bias`` ->
    ``l2_bias``; ``getnLayers`` -> ``get_n_layers``."""
    return _BOUNDARY.sub("_", name).lower()


def camel_case(name):
    """``set_feature_extractor`` -> ``setFeatureExtractor`` (the inverse, for docs and listings)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _lookup(owner, name, getter):
    snake = snake_case(name)
    if name.startswith("_") or name == snake:
        raise AttributeError(f"{owner!r} object has no attribute {name!r}")
    try:
        return getter(snake)
    except AttributeError:
        pass
    if snake.startswith("get_"):  # DL4J's (Lombok's) getter of a field: getLabel() -> .label
        try:
            value = getter(snake[len("get_"):])
        except AttributeError:
            pass
        else:
            if not callable(value):
                return lambda: value
    raise AttributeError(f"{owner!r} object has no attribute {name!r} "
                         f"(nor its snake_case form {snake!r})")


class _Dl4jNamesMeta(type):
    def __getattr__(cls, name):  # class-level: ModelSerializer.writeModel, ...
        return _lookup(cls.__name__, name, lambda snake: type.__getattribute__(cls, snake))


class Dl4jNames(metaclass=_Dl4jNamesMeta):
    """Mixin: camelCase attribute names resolve to their snake_case twins (see module docstring)."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A method a subclass defines under its DL4J name overrides the inherited snake_case one.
        for name, value in list(vars(cls).items()):
            snake = snake_case(name)
            if callable(value) and snake != name and snake not in vars(cls) and \
                    hasattr(cls, snake):
                setattr(cls, snake, value)

    def __getattr__(self, name):
        return _lookup(type(self).__name__, name, lambda snake: object.__getattribute__(self, snake))
