#include <socketengine/image_codec.hpp>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <system_error>
#include <vector>

#include <socketengine/error.hpp>

#include "image/jpeg.hpp"
#include "image/png.hpp"

namespace socketengine {

namespace {

bool starts_with(std::span<const std::uint8_t> bytes, std::initializer_list<std::uint8_t> sig) {
  if (bytes.size() < sig.size()) return false;
  std::size_t i = 0;
  for (auto b : sig)
    if (bytes[i++] != b) return false;
  return true;
}

// Decodes `bytes`, naming `source` (if any) in the exception's message.
image decode(std::span<const std::uint8_t> bytes, std::uint64_t max_pixels,
             const std::string& source) {
  std::error_code ec;
  std::string why;
  std::optional<image> out;
  if (starts_with(bytes, {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'})) {
    out = detail::png::decode(bytes, max_pixels, ec, why);
  } else if (starts_with(bytes, {0xFF, 0xD8, 0xFF})) {
    out = detail::jpeg::decode(bytes, max_pixels, ec, why);
  } else {
    ec = errc::invalid_image;
    why = "neither a PNG nor a JPEG";
  }
  if (!out) throw std::system_error(ec, source.empty() ? why : source + ": " + why);
  return std::move(*out);
}

} // namespace

image decode_image(std::span<const std::uint8_t> bytes, std::uint64_t max_pixels) {
  return decode(bytes, max_pixels, {});
}

image read_image_file(const std::string& path, std::uint64_t max_pixels) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::system_error(errno, std::generic_category(), path);
  std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in),
                                  std::istreambuf_iterator<char>()};
  if (in.bad()) throw std::system_error(errno, std::generic_category(), path);
  return decode(bytes, max_pixels, path);
}

std::string encode_png(const image& img, int level) {
  std::string out;
  detail::png::encode(img, level, out);
  return out;
}

std::string encode_jpeg(const image& img, int quality) {
  std::string out;
  detail::jpeg::encode(img, quality, out);
  return out;
}

} // namespace socketengine
