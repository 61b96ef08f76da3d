#include "png_image.hpp"

#include <png.h>
#include <zlib.h>

#include <cmath>
#include <csetjmp>
#include <cstddef>
#include <stdexcept>
#include <vector>

namespace runbase::emulator {
namespace {

struct Rgb {
  int r, g, b;
};

// The pattern's parameters, all derived from the seed: a grid of tiles shaded from `from` to `to`
// (each tile lighter towards its bottom) with a disc on top. Every row is a few runs of one
// colour, which the Sub filter turns into zeros and zlib's fastest level swallows quickly.
struct Pattern {
  std::uint64_t seed;
  Rgb from, to, disc;
  int tile_shift;    // tiles of 2^tile_shift pixels
  long long cx, cy;  // disc centre
  long long radius;
};

// splitmix64: a good spread of bits from consecutive draws of one seed.
std::uint64_t next(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31U);
}

int draw(std::uint64_t& state, int lo, int hi) noexcept {
  const auto span = static_cast<std::uint64_t>(hi - lo + 1);
  return lo + static_cast<int>(next(state) % span);
}

Rgb draw_color(std::uint64_t& state) noexcept {
  return {draw(state, 0, 255), draw(state, 0, 255), draw(state, 0, 255)};
}

Pattern make_pattern(ImageSize size, std::uint64_t seed) noexcept {
  std::uint64_t state = seed;
  Pattern p{};
  p.seed = seed;
  p.from = draw_color(state);
  p.to = draw_color(state);
  p.disc = draw_color(state);
  p.tile_shift = draw(state, 6, 8);
  p.cx = static_cast<long long>(size.width) * draw(state, 25, 75) / 100;
  p.cy = static_cast<long long>(size.height) * draw(state, 25, 75) / 100;
  const int short_side = size.width < size.height ? size.width : size.height;
  p.radius = static_cast<long long>(short_side) * draw(state, 15, 35) / 100;
  return p;
}

int mix(int a, int b, int t256) noexcept { return a + (b - a) * t256 / 256; }

void fill_run(png_byte* row, long long begin, long long end, Rgb color) noexcept {
  for (long long x = begin; x < end; ++x) {
    png_byte* px = row + x * 3;
    px[0] = static_cast<png_byte>(color.r);
    px[1] = static_cast<png_byte>(color.g);
    px[2] = static_cast<png_byte>(color.b);
  }
}

void fill_row(const Pattern& p, ImageSize size, int y, png_byte* row) noexcept {
  const int tile = 1 << p.tile_shift;
  const int shade = (y & (tile - 1)) * 64 / tile;  // 0..63: lighter towards the tile's bottom
  for (int x0 = 0; x0 < size.width; x0 += tile) {
    std::uint64_t state = p.seed ^ (static_cast<std::uint64_t>(x0) << 32U) ^
                          static_cast<std::uint64_t>(y >> p.tile_shift);
    const int t = static_cast<int>(next(state) % 257);
    const Rgb color{mix(p.from.r, p.to.r, t), mix(p.from.g, p.to.g, t), mix(p.from.b, p.to.b, t)};
    const Rgb shaded{mix(color.r, 255, shade), mix(color.g, 255, shade), mix(color.b, 255, shade)};
    fill_run(row, x0, x0 + tile < size.width ? x0 + tile : size.width, shaded);
  }
  const long long dy = y - p.cy;
  if (dy * dy < p.radius * p.radius) {
    const auto half =
        static_cast<long long>(std::sqrt(static_cast<double>(p.radius * p.radius - dy * dy)));
    const long long begin = p.cx - half < 0 ? 0 : p.cx - half;
    const long long end = p.cx + half + 1 > size.width ? size.width : p.cx + half + 1;
    fill_run(row, begin, end, p.disc);
  }
}

void append_bytes(png_structp png, png_bytep data, png_size_t length) {
  auto* out = static_cast<std::string*>(png_get_io_ptr(png));
  out->append(reinterpret_cast<const char*>(data), length);
}

void flush_nothing(png_structp /*png*/) {}

// Everything between setjmp and a possible longjmp uses only trivially destructible locals, so a
// libpng error cannot skip a destructor.
bool write_png(png_structp png, png_infop info, const Pattern& pattern, ImageSize size,
               png_byte* row, std::string* out) {
  if (setjmp(png_jmpbuf(png))) {
    return false;
  }
  png_set_write_fn(png, out, append_bytes, flush_nothing);
  png_set_compression_level(png, Z_BEST_SPEED);
  png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
  png_set_IHDR(png, info, static_cast<png_uint_32>(size.width),
               static_cast<png_uint_32>(size.height), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_BASE, PNG_FILTER_TYPE_BASE);
  png_write_info(png, info);
  for (int y = 0; y < size.height; ++y) {
    fill_row(pattern, size, y, row);
    png_write_row(png, row);
  }
  png_write_end(png, nullptr);
  return true;
}

}  // namespace

std::uint64_t prompt_seed(std::string_view prompt) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : prompt) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string encode_png(ImageSize size, std::uint64_t seed) {
  if (size.width <= 0 || size.height <= 0) {
    throw std::runtime_error("encode_png: the image size must be positive");
  }
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (png == nullptr) {
    throw std::runtime_error("encode_png: png_create_write_struct failed");
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    throw std::runtime_error("encode_png: png_create_info_struct failed");
  }
  std::vector<png_byte> row(static_cast<std::size_t>(size.width) * 3);
  std::string out;
  out.reserve(static_cast<std::size_t>(size.width) * static_cast<std::size_t>(size.height) / 8);
  const bool ok = write_png(png, info, make_pattern(size, seed), size, row.data(), &out);
  png_destroy_write_struct(&png, &info);
  if (!ok) {
    throw std::runtime_error("encode_png: libpng failed to encode the image");
  }
  return out;
}

}  // namespace runbase::emulator
