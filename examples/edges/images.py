"""Test images, drawn with Pillow (no download): shapes on noisy backgrounds."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw


def draw_images(directory: Path, count: int = 10, size: int = 256, seed: int = 3) -> list[Path]:
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        image = Image.new("RGB", (size, size), tuple(rng.randrange(40, 90) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        for _ in range(rng.randint(3, 7)):
            x, y = rng.randrange(size), rng.randrange(size)
            r = rng.randrange(10, size // 3)
            color = tuple(rng.randrange(100, 256) for _ in range(3))
            box = (x - r, y - r, x + r, y + r)
            draw.ellipse(box, fill=color) if rng.random() < 0.5 else draw.rectangle(box, fill=color)
        path = directory / f"shapes-{i:02d}.png"
        image.save(path)
        paths.append(path)
    return paths
