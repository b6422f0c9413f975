#pragma once
// JPEG encoding and decoding of socketengine::image through libjpeg-turbo's
// TurboJPEG API.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include <socketengine/image.hpp>

namespace socketengine::detail::jpeg {

/// Encodes `img` as a JPEG and appends it to `out`. `quality` is clamped to
/// 1..100. Gray images give a grayscale JPEG; BGR, RGB, BGRA and RGBA images
/// give a colour JPEG with 4:2:0 chroma subsampling (alpha is dropped).
/// \throws std::invalid_argument for an empty image or one wider or taller
///         than 65500 pixels, JPEG's limit; std::runtime_error if
///         libjpeg-turbo fails; std::bad_alloc.
void encode(const image& img, int quality, std::string& out);

/// Decodes a JPEG. Grayscale JPEGs give gray images; colour ones give BGR,
/// as OpenCV's imdecode does. CMYK JPEGs are refused.
///
/// The size is checked against `max_pixels` from the header, before the
/// pixels are allocated. A JPEG that libjpeg-turbo finds anything wrong
/// with, a mere warning included, is refused: a truncated one is only a
/// warning to it. On failure returns empty with `ec` set to
/// errc::image_too_large or errc::invalid_image and `detail` saying why.
[[nodiscard]] std::optional<image> decode(std::span<const std::uint8_t> jpeg,
                                          std::uint64_t max_pixels, std::error_code& ec,
                                          std::string& detail);

} // namespace socketengine::detail::jpeg
