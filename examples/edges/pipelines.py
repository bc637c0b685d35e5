"""Edge detection as Python pipelines: one datum per image, then a montage of all edges.

Register on a running cluster, as a Ray job or directly:

    ray job submit --working-dir examples/edges -- python pipelines.py
    python examples/edges/pipelines.py
"""

from __future__ import annotations

import raypachy


@raypachy.pipeline(
    input=raypachy.pfs("images", glob="/*"),
    num_cpus=1,
    memory="512Mi",
    parallelism=5,
    autoscaling=True,
)
def edges(datum):
    """Find the edges of each image (Pillow's FIND_EDGES filter)."""
    from PIL import Image, ImageFilter

    for path in sorted(datum.input().rglob("*.png")):
        with Image.open(path) as image:
            image.convert("L").filter(ImageFilter.FIND_EDGES).save(datum.out / path.name)
        print("edges of", path.name)


@raypachy.pipeline(
    input=raypachy.cross(raypachy.pfs("images", glob="/"), raypachy.pfs("edges", glob="/")),
    num_cpus=1,
)
def montage(datum):
    """Every image beside its edges, in one picture."""
    from PIL import Image

    originals = sorted(datum.inputs["images"].rglob("*.png"))
    tile = 128
    sheet = Image.new("RGB", (2 * tile, tile * max(len(originals), 1)))
    for row, path in enumerate(originals):
        edge_path = datum.inputs["edges"] / path.name
        with Image.open(path) as a:
            sheet.paste(a.resize((tile, tile)), (0, row * tile))
        if edge_path.exists():
            with Image.open(edge_path) as b:
                sheet.paste(b.convert("RGB").resize((tile, tile)), (tile, row * tile))
    sheet.save(datum.out / "montage.png")


def register() -> None:
    """Create the pipelines, or update them to this code."""
    client = raypachy.connect()
    names = {p.name for p in client.list_pipelines()}
    for pipeline in (edges, montage):
        if pipeline.name in names:
            client.update_pipeline(pipeline)
        else:
            client.create_pipeline(pipeline)
        print("registered", pipeline.name)


if __name__ == "__main__":
    register()
