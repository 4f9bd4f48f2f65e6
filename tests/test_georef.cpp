#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/text.hpp"
#include "geo/georef.hpp"

namespace satunet::geo {

TEST(Georef, NorthUpPixelToWorld) {
  const auto transform = GeoTransform::north_up(500000, 4000000, 0.5, 0.5);
  const Point corner = transform.pixel_to_world(0, 0);
  EXPECT_DOUBLE_EQ(corner.x, 500000);
  EXPECT_DOUBLE_EQ(corner.y, 4000000);
  const Point p = transform.pixel_to_world(10, 20);
  EXPECT_DOUBLE_EQ(p.x, 500005);
  EXPECT_DOUBLE_EQ(p.y, 3999990);
  const Point centre = transform.pixel_centre(0, 0);
  EXPECT_DOUBLE_EQ(centre.x, 500000.25);
  EXPECT_DOUBLE_EQ(centre.y, 3999999.75);
  EXPECT_TRUE(transform.is_north_up());
}

TEST(Georef, NonSquarePixelsRoundTrip) {
  const auto transform = GeoTransform::north_up(-120.5, 45.25, 2.0, 3.0);
  const Point p = transform.pixel_to_world(7, 11);
  EXPECT_DOUBLE_EQ(p.x, -120.5 + 14);
  EXPECT_DOUBLE_EQ(p.y, 45.25 - 33);
  const Point back = transform.world_to_pixel(p.x, p.y);
  EXPECT_DOUBLE_EQ(back.x, 7);
  EXPECT_DOUBLE_EQ(back.y, 11);
  EXPECT_DOUBLE_EQ(transform.pixel_width(), 2.0);
  EXPECT_DOUBLE_EQ(transform.pixel_height(), 3.0);
}

TEST(Georef, RotatedRoundTrip) {
  const GeoTransform transform({1000, 0.8, 0.6, 2000, 0.6, -0.8});
  EXPECT_FALSE(transform.is_north_up());
  for (const Point pixel : {Point{0, 0}, Point{3.5, 9.25}, Point{-4, 100}}) {
    const Point world = transform.pixel_to_world(pixel.x, pixel.y);
    const Point back = transform.world_to_pixel(world.x, world.y);
    EXPECT_NEAR(back.x, pixel.x, 1e-9);
    EXPECT_NEAR(back.y, pixel.y, 1e-9);
  }
}

TEST(Georef, WindowTransformMatchesParentPixels) {
  const auto parent = GeoTransform::north_up(300000, 5000000, 0.3, 0.7);
  const GeoTransform window = parent.for_window(192, 64);
  for (const Point pixel : {Point{0, 0}, Point{5.5, 63.5}}) {
    const Point in_window = window.pixel_to_world(pixel.x, pixel.y);
    const Point in_parent = parent.pixel_to_world(pixel.x + 192, pixel.y + 64);
    EXPECT_DOUBLE_EQ(in_window.x, in_parent.x);
    EXPECT_DOUBLE_EQ(in_window.y, in_parent.y);
  }
}

TEST(Georef, ExtentCoversAllCorners) {
  const auto transform = GeoTransform::north_up(10, 20, 2, 4);
  const Extent box = transform.extent(5, 3);
  EXPECT_DOUBLE_EQ(box.min_x, 10);
  EXPECT_DOUBLE_EQ(box.max_x, 20);
  EXPECT_DOUBLE_EQ(box.min_y, 8);
  EXPECT_DOUBLE_EQ(box.max_y, 20);
  EXPECT_TRUE(box.intersects(Extent{19, 19, 30, 30}));
  EXPECT_FALSE(box.intersects(Extent{21, 0, 30, 30}));
}

TEST(Georef, DegenerateTransformRefusesInverse) {
  const GeoTransform flat({0, 1, 0, 0, 0, 0});
  EXPECT_THROW(flat.world_to_pixel(1, 1), Error);
}

TEST(Georef, SameGridTolerance) {
  const auto a = GeoTransform::north_up(100, 200, 0.5, 0.5);
  const auto b = GeoTransform::north_up(100 + 1e-9, 200, 0.5, 0.5);
  const auto c = GeoTransform::north_up(100.25, 200, 0.5, 0.5);
  EXPECT_TRUE(a.same_grid(b));
  EXPECT_FALSE(a.same_grid(c));
}

}  // namespace satunet::geo

namespace satunet::text {

TEST(Text, SplitTrimAndParse) {
  EXPECT_EQ(split(" a, b ,c", ','), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(parse_int(" 42 ", "--size"), 42);
  EXPECT_DOUBLE_EQ(parse_double("0.25", "--gsd"), 0.25);
  const auto [key, value] = split_key_value("road=8", "--line-width");
  EXPECT_EQ(key, "road");
  EXPECT_EQ(value, "8");
}

TEST(Text, BadValuesNameTheOption) {
  try {
    parse_int("12x", "--tile");
    FAIL() << "no exception";
  } catch (const UsageError& error) {
    EXPECT_STREQ(error.what(), "--tile: expected an integer, got '12x'");
  }
  EXPECT_THROW(parse_double("", "--gsd"), UsageError);
  EXPECT_THROW(split_key_value("road", "--line-width"), UsageError);
}

}  // namespace satunet::text
