#pragma once
/// \file image_codec.hpp
/// PNG and JPEG bytes to and from socketengine::image, with the codecs the
/// engine uses on the wire (libspng and libjpeg-turbo): for pictures read
/// from files, and for handing frames to something that shows them.
///
/// Every function here is safe to call from any thread, concurrently.

#include <cstdint>
#include <span>
#include <string>

#include <socketengine/image.hpp>

namespace socketengine {

/// Decodes a PNG or a JPEG, told apart by their first bytes. Gray images
/// come out gray, colour ones BGR, PNGs with alpha BGRA: what an image
/// received from a peer looks like.
/// The size is checked from the header against `max_pixels` (width *
/// height) before any pixel is allocated.
/// \throws std::system_error errc::invalid_image (neither PNG nor JPEG, or
///         damaged; the message says why) or errc::image_too_large;
///         std::bad_alloc.
[[nodiscard]] image decode_image(std::span<const std::uint8_t> bytes,
                                 std::uint64_t max_pixels = std::uint64_t{1} << 24);

/// Reads the file at `path` and decodes it as decode_image() does.
/// \throws std::system_error with the system's error and the path when the
///         file cannot be read; as decode_image() otherwise.
[[nodiscard]] image read_image_file(const std::string& path,
                                    std::uint64_t max_pixels = std::uint64_t{1} << 24);

/// Encodes `img` as a PNG (BGR and BGRA images are written in PNG's RGB
/// order). `level` is the zlib level, clamped to 0..9; 1 is what the engine
/// sends frames with.
/// \throws std::invalid_argument for an empty image; std::runtime_error if
///         the encoder fails; std::bad_alloc.
[[nodiscard]] std::string encode_png(const image& img, int level = 1);

/// Encodes `img` as a JPEG (4:2:0 for colour; alpha is dropped). `quality`
/// is clamped to 1..100.
/// \throws std::invalid_argument for an empty image or one wider or taller
///         than 65500 pixels; std::runtime_error if the encoder fails;
///         std::bad_alloc.
[[nodiscard]] std::string encode_jpeg(const image& img, int quality = 90);

} // namespace socketengine
