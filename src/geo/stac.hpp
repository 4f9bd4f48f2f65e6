#pragma once
// A STAC Item (item.json, as a catalogue such as Earth Search serves them) as one raster: its
// data assets of one band each (eo:bands), stacked in the item's order on the grid of the finest
// (a virtual raster, nothing copied), each band named after its eo:bands name (B04) with the
// colour its common name gives (red), so that --bands B04,B03,B02,B08 or red,green,blue,nir
// choose them. Asset paths are relative to the item; http(s) ones are read through /vsicurl/.
#include <gdal_priv.h>

#include <string>

namespace satunet::geo {

// Whether `path` names a JSON file (a STAC Item is then what it must be).
bool is_stac_item_path(const std::string& path);

// The item's bands as one dataset; Error naming the item and the problem otherwise.
GDALDatasetUniquePtr open_stac_item(const std::string& path);

}  // namespace satunet::geo
