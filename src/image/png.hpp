#pragma once
// PNG encoding and decoding of socketengine::image through libspng.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include <socketengine/image.hpp>

namespace socketengine::detail::png {

/// Encodes `img` as a PNG (gray, RGB or RGBA, 8 bits per sample; BGR and
/// BGRA images are written in the PNG's RGB order) and appends it to `out`.
/// `level` is the zlib level, clamped to 0..9.
/// \throws std::invalid_argument for an empty image; std::runtime_error if
///         libspng fails; std::bad_alloc.
void encode(const image& img, int level, std::string& out);

/// Decodes a PNG. Gray PNGs give gray images; colour and palette PNGs give
/// BGR; those with an alpha channel (gray or colour) or a tRNS chunk give
/// BGRA; 16-bit
/// samples are cut to their high byte. This is what OpenCV's imdecode gives,
/// except that alpha is kept.
///
/// The size is checked against `max_pixels` from the header, before the
/// pixels are allocated. On failure returns empty with `ec` set to
/// errc::image_too_large or errc::invalid_image and `detail` saying why.
[[nodiscard]] std::optional<image> decode(std::span<const std::uint8_t> png,
                                          std::uint64_t max_pixels, std::error_code& ec,
                                          std::string& detail);

} // namespace socketengine::detail::png
