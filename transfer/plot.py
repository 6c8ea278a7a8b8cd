"""Training curves as a PNG, drawn with Pillow (no plotting library needed): the demo's test
accuracy per epoch, and the score and test accuracy of ``minidl fit-featurized --plot`` and
``minidl transfer --plot``, with the same code.

A plot is one or more panels stacked vertically; a panel has a title and named curves (lists of
values per epoch) and is scaled to 0..1 (shown as percentages) or to its curves' range.
"""

from PIL import Image, ImageDraw

from minidl.io import atomic_write

_COLOURS = [(31, 119, 180), (44, 160, 44), (214, 39, 40), (148, 103, 189)]


def save_plot(curves, path, width=640, height=400, title="test accuracy per epoch"):
    """Draw ``curves`` ({name: values per epoch, each in 0..1}) as one panel; atomic write."""
    return save_panels([(title, curves, True)], path, width, height)


def save_panels(panels, path, width=640, height=400):
    """Draw ``panels`` ([(title, {name: values per epoch}, as_fraction)]), each ``height``
    pixels high, one under the other, as a PNG at ``path`` (written atomically).

    ``as_fraction``: the panel spans 0..1 with percent ticks; otherwise it spans its values'
    range (e.g. a score)."""
    image = Image.new("RGB", (width, height * len(panels)), "white")
    draw = ImageDraw.Draw(image)
    for i, (title, curves, as_fraction) in enumerate(panels):
        _draw_panel(draw, (0, i * height, width, height), title, curves, as_fraction)
    with atomic_write(path) as f:
        image.save(f, format="PNG")
    return path


def _value_range(curves, as_fraction):
    """(low, high) of the panel's vertical axis."""
    if as_fraction:
        return 0.0, 1.0
    values = [v for vs in curves.values() for v in vs] or [0.0]
    low, high = min(values), max(values)
    return (low, high) if high > low else (low - 0.5, low + 0.5)


def _draw_panel(draw, box, title, curves, as_fraction):
    x0, y0, width, height = box
    left, right, top, bottom = x0 + 60, x0 + width - 20, y0 + 30, y0 + height - 40
    draw.rectangle([left, top, right, bottom], outline="black")
    low, high = _value_range(curves, as_fraction)
    longest = max([len(v) for v in curves.values()] + [2])
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - fraction * (bottom - top)
        draw.line([(left, y), (right, y)], fill=(220, 220, 220))
        value = low + fraction * (high - low)
        draw.text((x0 + 8, y - 6), f"{value:.0%}" if as_fraction else f"{value:.3g}",
                  fill="black")
    draw.text((left, y0 + 8), title, fill="black")
    draw.text((right - 40, bottom + 10), f"{longest} ep", fill="black")
    for i, (name, values) in enumerate(curves.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        points = [(left + (right - left) * e / (longest - 1),
                   bottom - (v - low) / (high - low) * (bottom - top))
                  for e, v in enumerate(values)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        draw.text((left + 10, bottom - 20 - 14 * i), name, fill=colour)
