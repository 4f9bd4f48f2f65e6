#!/usr/bin/python3
"""Damaged copies of a synthetic scene's road mask, for apls_reference.py and test_roads.cpp.

usage: make_cases.py SCENE_DIR OUT_DIR

SCENE_DIR is `satunet synth --out SCENE_DIR --size 2048 --seed 1` (truth.tif: 0 background,
1 building, 2 road, 255 nodata; roads.geojson: the road centre lines with id and width_m).
Writes OUT_DIR/CASE.tif, each the truth with its roads damaged:
  three_gaps           10 m cut across roads 2, 5 and 7 (at 33 %, 55 % and 22 % of their
                       length), as wide as the road
  three_roads_removed  roads 8, 9 and 12 left out (their pixels that no other road covers)
  three_bridges        8 m wide straight roads from road 6 to road 7 (two parallel roads about
                       220 m apart) at columns 700, 1250 and 1900
  shifted_2m           the whole class map 4 pixels (2 m) to the east
Debian packages: python3-gdal python3-numpy.
"""
import json
import sys

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()
scene, out = sys.argv[1], sys.argv[2]
dataset = gdal.Open(scene + '/truth.tif')
truth = dataset.ReadAsArray()
gt = dataset.GetGeoTransform()
pixel_m = gt[1]
height, width = truth.shape
srs = osr.SpatialReference()
srs.ImportFromWkt(dataset.GetProjection())
lonlat = osr.SpatialReference()
lonlat.ImportFromEPSG(4326)
lonlat.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
to_scene = osr.CoordinateTransformation(lonlat, srs)


def to_pixel(lon, lat):
    x, y, _ = to_scene.TransformPoint(lon, lat)
    return (x - gt[0]) / gt[1], (y - gt[3]) / gt[5]


roads = {}  # id -> (centre line in pixels, width in metres)
for feature in json.load(open(scene + '/roads.geojson'))['features']:
    line = np.array([to_pixel(*c) for c in feature['geometry']['coordinates']])
    roads[feature['properties']['id']] = (line, feature['properties']['width_m'])
rows, cols = np.mgrid[0:height, 0:width]
road = truth == 2


def near_line(line, reach):
    """Pixels whose centre index lies within `reach` pixels of the polyline."""
    near = np.zeros((height, width), bool)
    for a, b in zip(line[:-1], line[1:]):
        x0, y0 = np.floor(np.minimum(a, b) - reach - 1).astype(int)
        x1, y1 = np.ceil(np.maximum(a, b) + reach + 1).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x0 >= x1 or y0 >= y1:
            continue
        px, py = cols[y0:y1, x0:x1], rows[y0:y1, x0:x1]
        v = b - a
        t = np.clip(((px - a[0]) * v[0] + (py - a[1]) * v[1]) / max(v @ v, 1e-12), 0, 1)
        near[y0:y1, x0:x1] |= np.hypot(px - (a[0] + t * v[0]), py - (a[1] + t * v[1])) <= reach
    return near


def point_at(line, fraction):
    """The point at `fraction` of the polyline's length and the unit direction there."""
    pieces = np.hypot(*np.diff(line, axis=0).T)
    walked = np.concatenate([[0], np.cumsum(pieces)])
    wanted = fraction * walked[-1]
    i = min(max(np.searchsorted(walked, wanted) - 1, 0), len(pieces) - 1)
    direction = (line[i + 1] - line[i]) / pieces[i]
    return line[i] + (wanted - walked[i]) * direction, direction


def save(name, classes):
    copy = gdal.GetDriverByName('GTiff').CreateCopy(out + '/' + name + '.tif', dataset)
    copy.GetRasterBand(1).WriteArray(classes)
    copy = None


pred = truth.copy()
for road_id, fraction in [(2, 0.33), (5, 0.55), (7, 0.22)]:
    line, road_width = roads[road_id]
    centre, d = point_at(line, fraction)
    along = (cols - centre[0]) * d[0] + (rows - centre[1]) * d[1]
    across = -(cols - centre[0]) * d[1] + (rows - centre[1]) * d[0]
    pred[(np.abs(along) < 5 / pixel_m) & (np.abs(across) < road_width / pixel_m) & road] = 0
save('three_gaps', pred)

pred = truth.copy()
kept = np.zeros((height, width), bool)
for road_id, (line, road_width) in roads.items():
    if road_id not in (8, 9, 12):
        kept |= near_line(line, road_width / 2 / pixel_m + 1.5)
pred[road & ~kept] = 0
save('three_roads_removed', pred)

pred = truth.copy()
for col in (700, 1250, 1900):
    ends = [roads[r][0][np.argmin(np.abs(roads[r][0][:, 0] - col)), 1] for r in (6, 7)]
    bridge = near_line(np.array([[col, ends[0]], [col, ends[1]]]), 4 / pixel_m)
    pred[bridge & (truth != 255)] = 2
save('three_bridges', pred)

pred = np.zeros_like(truth)
pred[:, 4:] = truth[:, :-4]
pred[truth == 255] = 255
save('shifted_2m', pred)
