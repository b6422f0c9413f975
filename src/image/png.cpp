#include "image/png.hpp"

#include <spng.h>
#include <zlib.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include <socketengine/error.hpp>

namespace socketengine::detail::png {

namespace {

struct ctx_deleter {
  void operator()(spng_ctx* c) const noexcept { spng_ctx_free(c); }
};
using ctx_ptr = std::unique_ptr<spng_ctx, ctx_deleter>;

// Memory for ancillary chunks (text, ICC profiles) a decoder may keep; far
// more than any camera frame carries, far less than a hostile PNG could ask.
constexpr std::size_t chunk_cache_limit = std::size_t{4} << 20;

void check(int rc, const char* what) {
  if (rc != 0) throw std::runtime_error(std::string("PNG encoder: ") + what + ": " + spng_strerror(rc));
}

int write_to_string(spng_ctx*, void* user, void* src, std::size_t n) {
  try {
    static_cast<std::string*>(user)->append(static_cast<const char*>(src), n);
    return 0;
  } catch (...) {
    return SPNG_IO_ERROR;
  }
}

std::uint8_t color_type_of(pixel_order o) {
  switch (channels_of(o)) {
  case 1: return SPNG_COLOR_TYPE_GRAYSCALE;
  case 3: return SPNG_COLOR_TYPE_TRUECOLOR;
  default: return SPNG_COLOR_TYPE_TRUECOLOR_ALPHA;
  }
}

bool blue_first(pixel_order o) { return o == pixel_order::bgr || o == pixel_order::bgra; }

// Swaps the first and third sample of each pixel: BGR(A) <-> RGB(A).
void swap_red_blue(std::uint8_t* p, std::size_t pixels, int channels) {
  auto step = static_cast<std::size_t>(channels);
  for (std::size_t i = 0; i < pixels; ++i, p += step) std::swap(p[0], p[2]);
}

// What a PNG decodes to: libspng's output format and flags, the image's
// pixel order, and whether the gray samples must be folded out of RGB.
struct output {
  int fmt;
  int flags;
  pixel_order order;
  bool gray16;
};

output output_for(const spng_ihdr& ihdr, bool has_trns) {
  // Transparency can also come in a tRNS chunk (palette PNGs, or one
  // transparent colour): then the image gets an alpha channel too.
  if (has_trns) return {SPNG_FMT_RGBA8, SPNG_DECODE_TRNS, pixel_order::bgra, false};
  switch (ihdr.color_type) {
  case SPNG_COLOR_TYPE_GRAYSCALE:
    // libspng gives 8-bit gray only from gray PNGs of 8 bits or less; a
    // 16-bit one goes through RGB and is folded back.
    if (ihdr.bit_depth <= 8) return {SPNG_FMT_G8, 0, pixel_order::gray, false};
    return {SPNG_FMT_RGB8, 0, pixel_order::gray, true};
  case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA:
  case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA: return {SPNG_FMT_RGBA8, 0, pixel_order::bgra, false};
  default: return {SPNG_FMT_RGB8, 0, pixel_order::bgr, false}; // truecolor and palette
  }
}

} // namespace

void encode(const image& img, int level, std::string& out) {
  if (img.empty()) throw std::invalid_argument("socketengine: cannot encode an empty image");
  ctx_ptr ctx(spng_ctx_new(SPNG_CTX_ENCODER));
  if (!ctx) throw std::bad_alloc();
  check(spng_set_png_stream(ctx.get(), write_to_string, &out), "stream");
  spng_ihdr ihdr{};
  ihdr.width = img.width();
  ihdr.height = img.height();
  ihdr.bit_depth = 8;
  ihdr.color_type = color_type_of(img.order());
  check(spng_set_ihdr(ctx.get(), &ihdr), "header");
  level = std::clamp(level, 0, 9);
  check(spng_set_option(ctx.get(), SPNG_IMG_COMPRESSION_LEVEL, level), "level");
  if (level == 1) {
    // The speed setting, the default, is tuned for camera frames. libspng
    // otherwise tries all five row filters on every row (half the encoding
    // time of a 640x480 frame); SUB alone does about as well on photos.
    // Run-length matching suits sensor noise, where deflate's longer
    // matches find little: together a 640x480 frame encodes in 18 ms
    // instead of 29 (the image benchmark) and comes out 13% smaller. Line
    // art compresses worse this way, which is what the higher levels are for.
    check(spng_set_option(ctx.get(), SPNG_FILTER_CHOICE, SPNG_FILTER_CHOICE_SUB), "filter");
    check(spng_set_option(ctx.get(), SPNG_IMG_COMPRESSION_STRATEGY, Z_RLE), "strategy");
  }

  if (!blue_first(img.order())) {
    check(spng_encode_image(ctx.get(), img.data(), img.size_bytes(), SPNG_FMT_PNG,
                            SPNG_ENCODE_FINALIZE),
          "encode");
    return;
  }
  // PNG stores red first. Rows are swapped one at a time into a small
  // buffer, so the caller's pixels are neither copied whole nor modified.
  check(spng_encode_image(ctx.get(), nullptr, 0, SPNG_FMT_PNG,
                          SPNG_ENCODE_PROGRESSIVE | SPNG_ENCODE_FINALIZE),
        "encode");
  std::vector<std::uint8_t> row(img.row_bytes());
  for (std::uint32_t y = 0; y < img.height(); ++y) {
    const std::uint8_t* src = img.data() + y * img.row_bytes();
    std::copy(src, src + row.size(), row.begin());
    swap_red_blue(row.data(), img.width(), img.channels());
    int rc = spng_encode_row(ctx.get(), row.data(), row.size());
    if (rc == SPNG_EOI) break;
    check(rc, "row");
  }
}

std::optional<image> decode(std::span<const std::uint8_t> png, std::uint64_t max_pixels,
                            std::error_code& ec, std::string& detail) {
  auto fail = [&](errc e, std::string why) -> std::optional<image> {
    ec = e;
    detail = std::move(why);
    return std::nullopt;
  };
  ec.clear();
  ctx_ptr ctx(spng_ctx_new(0));
  if (!ctx) throw std::bad_alloc();
  spng_set_chunk_limits(ctx.get(), png.size(), chunk_cache_limit);
  if (int rc = spng_set_png_buffer(ctx.get(), png.data(), png.size()); rc != 0)
    return fail(errc::invalid_image, spng_strerror(rc));
  spng_ihdr ihdr{};
  if (int rc = spng_get_ihdr(ctx.get(), &ihdr); rc != 0)
    return fail(errc::invalid_image, std::string("not a PNG: ") + spng_strerror(rc));

  std::uint64_t pixels = std::uint64_t{ihdr.width} * ihdr.height;
  if (pixels > max_pixels)
    return fail(errc::image_too_large, std::to_string(ihdr.width) + " x " +
                                           std::to_string(ihdr.height) + " pixels is more than " +
                                           std::to_string(max_pixels));

  spng_trns trns{};
  auto [fmt, flags, order, gray16] = output_for(ihdr, spng_get_trns(ctx.get(), &trns) == 0);

  std::size_t size = 0;
  if (int rc = spng_decoded_image_size(ctx.get(), fmt, &size); rc != 0)
    return fail(errc::invalid_image, spng_strerror(rc));
  // Pixels are not zeroed first: the decoder writes every byte or fails.
  auto buffer = std::make_shared_for_overwrite<std::uint8_t[]>(size);
  if (int rc = spng_decode_image(ctx.get(), buffer.get(), size, fmt, flags); rc != 0)
    return fail(errc::invalid_image, spng_strerror(rc));
  // The pixels can be complete while the file is not; a PNG cut short
  // anywhere is refused, as the sender did not send what it meant to.
  // libspng reads the chunks after the pixels but does not insist on the
  // final CRC, so the end is checked here: IEND is always these 12 bytes.
  if (int rc = spng_decode_chunks(ctx.get()); rc != 0)
    return fail(errc::invalid_image, std::string("after the pixels: ") + spng_strerror(rc));
  static constexpr std::uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
  if (png.size() < sizeof iend || !std::equal(std::begin(iend), std::end(iend), png.end() - 12))
    return fail(errc::invalid_image, "truncated: the PNG does not end with IEND");

  auto count = static_cast<std::size_t>(pixels);
  if (gray16) {
    for (std::size_t i = 0; i < count; ++i) buffer[i] = buffer[3 * i];
  } else if (order != pixel_order::gray) {
    swap_red_blue(buffer.get(), count, channels_of(order));
  }
  std::uint8_t* data = buffer.get();
  return image::wrap(ihdr.width, ihdr.height, order, data, std::move(buffer));
}

} // namespace socketengine::detail::png
