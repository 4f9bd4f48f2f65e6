#!/usr/bin/python3
"""APLS of satunet's road graphs as CosmiQ's apls.py computes it.

usage: apls_reference.py APLS_CHECKOUT GRAPHS... [--shared-ids] [--json OUT]

APLS_CHECKOUT is a clone of https://github.com/CosmiQ/apls (the package directory apls/ in
it is imported; nothing of it is copied here). Each GRAPHS file is what
`satunet evaluate --road-graph` writes (GeoJSON or GeoPackage; a .gz is read through GDAL's
/vsigzip/): lines with fields graph (truth or prediction), length_m, from_node and to_node.

The graphs are handed to apls.py's own metric as its execute() does for graphs of fewer than
500 truth nodes: make_graphs() (control points every 50 m, snapped within 4 m and inserted
into the other graph) and compute_apls_metric() (min_path_length 0.001 m), with the defaults
of apls.py's command line (linestring_delta 50, is_curved_eps -1, max_snap_dist 4,
allow_renaming 1). apls.py's own readers (gather_files) are not used: its GeoJSON reader
(graphTools.create_graphGeoJson) fails with Debian bookworm's pandas/geopandas and makes a
node of every vertex; the graphs are built here, one node per graph node, edges with
length = length_m and geometry = the line, in metres (a geographic CRS is projected to the
UTM zone of the mean longitude, as apls.py's osmnx_funcs.project_gdf does).

Node ids: apls.py tells a truth control point inserted into the proposal apart from the
proposal's own nodes by id alone, so the two graphs must not share ids (apls.py's readers
offset them: osmNodeidx 0 and 500, node_iter 10000 and 1000). satunet writes truth nodes
from 0 and prediction nodes from 1e9. --shared-ids numbers both graphs from 0 instead, to
show what shared ids do (issue #28: damaged networks scored 0.1-0.4 too low).

Debian packages: python3-networkx python3-shapely python3-scipy python3-numpy python3-pandas
python3-geopandas python3-gdal python3-matplotlib python3-fiona python3-rasterio
python3-affine. cv2, skimage and utm (not in Debian, or not needed) are stubbed: apls.py
imports them for plots and lat/lon labels the metric does not use.
"""
import argparse
import contextlib
import io
import json
import math
import os
import sys
import types


def stub_missing_modules():
    for name in ['cv2', 'skimage', 'skimage.io', 'utm']:
        try:
            __import__(name)
        except ImportError:
            module = types.ModuleType(name)
            if name == 'utm':
                # apls.insert_point_into_G calls utm inside try/except for node lat/lon labels.
                def unavailable(*args, **kwargs):
                    raise NotImplementedError('utm is stubbed')
                module.from_latlon = module.to_latlon = unavailable
            sys.modules[name] = module
    if 'skimage.io' in sys.modules and 'skimage' in sys.modules:
        sys.modules['skimage'].io = sys.modules['skimage.io']


def read_graphs(path):
    """The file's edges: {'truth': [...], 'prediction': [...]}, each edge a dict with
    coordinates (metres), length_m, from_node, to_node (None when the file has no ids)."""
    from osgeo import ogr, osr
    ogr.UseExceptions()
    source = ogr.Open('/vsigzip/' + path if path.endswith('.gz') else path)
    layer = source.GetLayer(0)
    srs = layer.GetSpatialRef()
    transform = None
    if srs is not None and srs.IsGeographic():
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        lons, lats = [], []
        for feature in layer:
            for x, y in feature.GetGeometryRef().GetPoints():
                lons.append(x)
                lats.append(y)
        layer.ResetReading()
        lon, lat = sum(lons) / len(lons), sum(lats) / len(lats)
        zone = int(math.floor((lon + 180) / 6.0) + 1)
        utm = osr.SpatialReference()
        utm.ImportFromEPSG((32600 if lat >= 0 else 32700) + zone)
        utm.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        transform = osr.CoordinateTransformation(srs, utm)
    fields = [layer.GetLayerDefn().GetFieldDefn(i).GetName()
              for i in range(layer.GetLayerDefn().GetFieldCount())]
    with_ids = 'from_node' in fields and 'to_node' in fields
    graphs = {'truth': [], 'prediction': []}
    for feature in layer:
        geometry = feature.GetGeometryRef().Clone()
        if transform is not None:
            geometry.Transform(transform)
        graphs[feature.GetField('graph')].append({
            'coordinates': [(x, y) for x, y in geometry.GetPoints()],
            'length_m': feature.GetField('length_m'),
            'from_node': feature.GetField('from_node') if with_ids else None,
            'to_node': feature.GetField('to_node') if with_ids else None})
    return graphs


def networkx_graph(edges, first_id, shared_ids):
    """An apls.py graph: a MultiGraph with nodes x, y and edges length, geometry."""
    import networkx as nx
    from shapely.geometry import LineString
    graph = nx.MultiGraph()
    ids = {}

    def node(given, point):
        if given is not None and not shared_ids:
            name = int(given)
        else:  # ends merged by their coordinates, numbered from first_id
            name = ids.setdefault(point, first_id + len(ids))
        if name not in graph:
            graph.add_node(name, x=point[0], y=point[1], lon=point[0], lat=point[1],
                           osmid=name)
        return name

    for edge in edges:
        line = edge['coordinates']
        u = node(edge['from_node'], line[0])
        v = node(edge['to_node'], line[-1])
        # apls.add_travel_time needs a speed; APLS weighs paths by length only.
        graph.add_edge(u, v, length=edge['length_m'], geometry=LineString(line),
                       inferred_speed_mps=13.41)
    return graph


def score(apls, truth, proposal):
    """apls.py's APLS of the two graphs, as its execute() computes it."""
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        (_, _, _, _, control_points_gt, control_points_prop,
         lengths_gt, lengths_prop, lengths_gt_prime, lengths_prop_prime) = apls.make_graphs(
            truth, proposal, weight='length', linestring_delta=50, is_curved_eps=-1,
            max_snap_dist=4, allow_renaming=True)
        total, gt_onto_prop, prop_onto_gt = apls.compute_apls_metric(
            lengths_gt, lengths_prop, lengths_gt_prime, lengths_prop_prime,
            control_points_gt, control_points_prop, min_path_length=0.001)
    # Control points named like a node of the other graph (see the module's doc).
    shared = (len({c[0] for c in control_points_gt} & set(proposal.nodes()))
              + len({c[0] for c in control_points_prop} & set(truth.nodes())))
    return {'apls': float(total), 'truth_to_prediction': float(gt_onto_prop),
            'prediction_to_truth': float(prop_onto_gt),
            'truth_control_points': len(control_points_gt),
            'prediction_control_points': len(control_points_prop),
            'truth_nodes': truth.number_of_nodes(),
            'prediction_nodes': proposal.number_of_nodes(),
            'control_points_sharing_an_id': shared}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('apls_checkout', help='a clone of github.com/CosmiQ/apls')
    parser.add_argument('graphs', nargs='+', help='files of satunet evaluate --road-graph')
    parser.add_argument('--shared-ids', action='store_true',
                        help='number both graphs from 0 (shows what shared node ids do)')
    parser.add_argument('--json', help='also write the scores here')
    args = parser.parse_args()

    os.environ.setdefault('MPLBACKEND', 'Agg')
    stub_missing_modules()
    sys.path.insert(0, os.path.join(os.path.abspath(args.apls_checkout), 'apls'))
    with contextlib.redirect_stdout(io.StringIO()):
        import apls

    results = {}
    for path in args.graphs:
        edges = read_graphs(path)
        truth = networkx_graph(edges['truth'], 0, args.shared_ids)
        proposal = networkx_graph(edges['prediction'], 0 if args.shared_ids else 10**9,
                                  args.shared_ids)
        if truth.number_of_nodes() >= 500:
            print(f'note: {path}: {truth.number_of_nodes()} truth nodes; apls.py execute() '
                  'would sample max_nodes nodes (make_graphs_yuge) instead', file=sys.stderr)
        result = score(apls, truth, proposal)
        results[os.path.basename(path)] = result
        print(f"{os.path.basename(path)}: APLS {result['apls']:.4f} "
              f"(truth to prediction {result['truth_to_prediction']:.4f}, prediction to truth "
              f"{result['prediction_to_truth']:.4f}); control points "
              f"{result['truth_control_points']} and {result['prediction_control_points']}, "
              f"{result['control_points_sharing_an_id']} named like a node of the other graph")
    if args.json:
        with open(args.json, 'w') as out:
            json.dump(results, out, indent=1)


if __name__ == '__main__':
    main()
