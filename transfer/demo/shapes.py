"""The demo's pictures, drawn with Pillow, deterministically from a seed: ten source shapes
(circle, ring, square, ...) and five other target shapes (L, T, arrow, hourglass, half-disc) on
noisy backgrounds, as arrays, as DataSets or as a folder of PNGs for the image pipeline."""

import os

import numpy as np
from PIL import Image, ImageDraw

from minidl.data.dataset import DataSet

SOURCE_SHAPES = ("circle", "ring", "square", "diamond", "triangle", "plus", "cross", "hbars",
                 "vbars", "star")
TARGET_SHAPES = ("ell", "tee", "arrow", "hourglass", "halfdisc")
IMAGE_SIZE = 32


def _star(points=5, inner=0.45):
    angles = np.arange(2 * points) * np.pi / points - np.pi / 2
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return [("poly", np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1))]


def _half_disc():
    angles = np.linspace(np.pi, 2 * np.pi, 16)
    return [("poly", np.stack([np.cos(angles), np.sin(angles) + 0.4], 1))]


# Each shape as drawing primitives in a [-1, 1] box: ("poly", points), ("line", points),
# ("disc", None) or ("ring", None). Lines are drawn with a random stroke width.
_SHAPES = {
    "circle": [("disc", None)],
    "ring": [("ring", None)],
    "square": [("poly", np.array([[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]]))],
    "diamond": [("poly", np.array([[0, -1], [1, 0], [0, 1], [-1, 0]]))],
    "triangle": [("poly", np.array([[0, -0.9], [0.9, 0.8], [-0.9, 0.8]]))],
    "plus": [("line", np.array([[-1, 0], [1, 0]])), ("line", np.array([[0, -1], [0, 1]]))],
    "cross": [("line", np.array([[-0.8, -0.8], [0.8, 0.8]])),
              ("line", np.array([[-0.8, 0.8], [0.8, -0.8]]))],
    "hbars": [("line", np.array([[-0.9, y], [0.9, y]])) for y in (-0.7, 0, 0.7)],
    "vbars": [("line", np.array([[x, -0.9], [x, 0.9]])) for x in (-0.7, 0, 0.7)],
    "star": _star(),
    "ell": [("line", np.array([[-0.5, -0.9], [-0.5, 0.8], [0.7, 0.8]]))],
    "tee": [("line", np.array([[-0.9, -0.8], [0.9, -0.8]])), ("line", np.array([[0, -0.8], [0, 0.9]]))],
    "arrow": [("line", np.array([[-0.9, 0], [0.3, 0]])),
              ("poly", np.array([[0.1, -0.6], [0.95, 0], [0.1, 0.6]]))],
    "hourglass": [("poly", np.array([[-0.7, -0.9], [0.7, -0.9], [-0.7, 0.9], [0.7, 0.9]]))],
    "halfdisc": _half_disc(),
}


def render_shape(name, rng, size=IMAGE_SIZE):
    """One picture of shape ``name``: uint8 [size, size, 3] RGB, position, scale, rotation,
    colours, stroke and noise drawn from ``rng`` (a numpy Generator)."""
    scale = 2  # draw at twice the size, then shrink: smooth edges
    canvas = size * scale
    background = rng.integers(0, 90, 3)
    noise = rng.normal(0, 18, (canvas, canvas, 3))
    pixels = np.clip(background + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    colour = tuple(int(c) for c in rng.integers(140, 256, 3))
    radius = canvas * rng.uniform(0.25, 0.42)
    centre = canvas / 2 + rng.uniform(-0.12, 0.12, 2) * canvas
    angle = rng.uniform(-0.5, 0.5)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    stroke = max(2, int(canvas * rng.uniform(0.06, 0.1)))

    def place(points):
        return [tuple(p) for p in centre + radius * points @ rotation.T]

    for kind, points in _SHAPES[name]:
        box = [tuple(centre - radius), tuple(centre + radius)]
        if kind == "disc":
            draw.ellipse(box, fill=colour)
        elif kind == "ring":
            draw.ellipse(box, outline=colour, width=stroke)
        elif kind == "poly":
            draw.polygon(place(points), fill=colour)
        else:
            draw.line(place(points), fill=colour, width=stroke, joint="curve")
    return np.asarray(image.resize((size, size), Image.Resampling.LANCZOS))


def make_images(shapes, per_class, seed, size=IMAGE_SIZE):
    """``per_class`` pictures of each shape: (uint8 [n, size, size, 3] RGB, int labels [n]),
    classes interleaved. The same arguments always give the same pictures."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(per_class):
        for label, name in enumerate(shapes):
            images.append(render_shape(name, rng, size))
            labels.append(label)
    return np.stack(images), np.array(labels)


def to_dataset(images, labels, n_classes):
    """A DataSet as the image pipeline makes it: NCHW, BGR, scaled to 0..1, one-hot labels
    (what ImageRecordReader + ImagePreProcessingScaler give for the same pictures on disk)."""
    features = images[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return DataSet(np.ascontiguousarray(features), np.eye(n_classes, dtype=np.float32)[labels])


def write_image_folder(directory, shapes, per_class, seed, size=IMAGE_SIZE):
    """Save ``make_images`` as PNGs in one folder per class (``<directory>/<shape>/0007.png``):
    a stand-in for the flower photos that the real image pipeline can read."""
    images, labels = make_images(shapes, per_class, seed, size)
    counts = {}
    for image, label in zip(images, labels):
        folder = os.path.join(directory, shapes[label])
        os.makedirs(folder, exist_ok=True)
        index = counts[label] = counts.get(label, -1) + 1
        Image.fromarray(image).save(os.path.join(folder, f"{index:04d}.png"))
    return directory
