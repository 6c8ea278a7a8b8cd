"""The demo's training curves as a PNG, drawn with Pillow (no plotting library needed)."""

from PIL import Image, ImageDraw

from minidl.io import atomic_write

_COLOURS = [(31, 119, 180), (44, 160, 44), (214, 39, 40), (148, 103, 189)]


def save_plot(curves, path, width=640, height=400):
    """Draw test accuracy per epoch, one line per curve, as a PNG (Pillow only); atomic write."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 50, width - 20, 30, height - 40
    draw.rectangle([left, top, right, bottom], outline="black")
    longest = max([len(v) for v in curves.values()] + [2])
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - fraction * (bottom - top)
        draw.line([(left, y), (right, y)], fill=(220, 220, 220))
        draw.text((8, y - 6), f"{fraction:.0%}", fill="black")
    draw.text((left, 8), "test accuracy per epoch", fill="black")
    draw.text((right - 40, bottom + 10), f"{longest} ep", fill="black")
    for i, (name, values) in enumerate(curves.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        points = [(left + (right - left) * e / (longest - 1), bottom - v * (bottom - top))
                  for e, v in enumerate(values)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        draw.text((left + 10, bottom - 20 - 14 * i), name, fill=colour)
    with atomic_write(path) as f:
        image.save(f, format="PNG")
    return path
