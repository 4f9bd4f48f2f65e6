#!/usr/bin/python3
"""The Python user's tiler, side by side with `satunet tile` in `launch/bench.sh python`.

What a user of rasterio, fiona, shapely and h5py writes to cut a scene and its vector labels
into HDF5 tiles: the labels reprojected to the scene's CRS, lines buffered by their width in
metres (in a local UTM zone), rasterized once for the whole scene (later classes win, as
satunet burns them), then every tile window read with rasterio and written with h5py, one
chunk per tile, gzip at the given level (or LZ4, HDF5 filter 32004 through Debian's
hdf5-filter-plugin, as satunet's --compress lz4), shards of at most --shard-tiles tiles.
"""
import argparse
import math
import os

import fiona
import h5py
import numpy as np
import rasterio
from rasterio import features
from rasterio.warp import transform_geom
from rasterio.windows import Window
from rasterio.crs import CRS
from shapely.geometry import mapping, shape


def utm_for(lon, lat):
    return f"EPSG:{(32600 if lat >= 0 else 32700) + int((lon + 180) // 6) + 1}"


def footprints(path, scene_crs, width_field):
    """Every feature's area in the scene's CRS: polygons as they are, lines buffered."""
    shapes = []
    with fiona.open(path) as layer:
        source = CRS.from_wkt(layer.crs_wkt) if layer.crs_wkt else CRS.from_epsg(4326)
        for feature in layer:
            geometry = dict(feature["geometry"])
            if geometry["type"] in ("LineString", "MultiLineString"):
                centre = shape(geometry).centroid
                local = utm_for(centre.x, centre.y) if source.is_geographic else source
                width = float(feature["properties"].get(width_field) or 0)
                buffered = shape(transform_geom(source, local, geometry)).buffer(width / 2)
                geometry = transform_geom(local, source, mapping(buffered))
            shapes.append(transform_geom(source, scene_crs, geometry))
    return shapes


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image", required=True)
    parser.add_argument("--labels", action="append", required=True, help="CLASS_ID=FILE")
    parser.add_argument("--width-field", default="width_m")
    parser.add_argument("--out", required=True)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--compress", default="1", help="0 (none), 1..9 (gzip level) or lz4")
    parser.add_argument("--shard-tiles", type=int, default=1000)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with rasterio.open(args.image) as scene:
        burn = []
        for item in args.labels:
            class_id, path = item.split("=", 1)
            burn += [(geometry, int(class_id))
                     for geometry in footprints(path, scene.crs, args.width_field)]
        labels = features.rasterize(burn, out_shape=(scene.height, scene.width),
                                    transform=scene.transform, fill=0, dtype="uint8")
        stride = args.tile - args.overlap
        windows = [(x, y) for y in range(0, scene.height - args.tile + 1, stride)
                   for x in range(0, scene.width - args.tile + 1, stride)]
        if args.compress == "lz4":
            codec = {"compression": 32004}
        elif int(args.compress):
            codec = {"compression": "gzip", "compression_opts": int(args.compress)}
        else:
            codec = {}
        for shard in range(math.ceil(len(windows) / args.shard_tiles)):
            part = windows[shard * args.shard_tiles:(shard + 1) * args.shard_tiles]
            with h5py.File(os.path.join(args.out, f"shard-{shard:04d}.h5"), "w") as out:
                images = out.create_dataset(
                    "images", (len(part), scene.count, args.tile, args.tile), scene.dtypes[0],
                    chunks=(1, scene.count, args.tile, args.tile), shuffle=bool(codec), **codec)
                tiles = out.create_dataset("labels", (len(part), args.tile, args.tile), "uint8",
                                           chunks=(1, args.tile, args.tile),
                                           shuffle=bool(codec), **codec)
                placed = out.create_dataset("windows", (len(part), 4), "int64")
                for i, (x, y) in enumerate(part):
                    images[i] = scene.read(window=Window(x, y, args.tile, args.tile))
                    tiles[i] = labels[y:y + args.tile, x:x + args.tile]
                    placed[i] = (x, y, args.tile, args.tile)
    print(f"{len(windows)} tiles -> {args.out}")


if __name__ == "__main__":
    main()
