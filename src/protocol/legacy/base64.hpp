#pragma once
// Base64 (RFC 4648, standard alphabet, '=' padding, no line breaks): the
// encoding of images in the legacy protocol.
//
// Written here rather than taken from a package: Debian's libb64 breaks
// lines every 72 characters and works a character at a time, and OpenSSL's
// EVP_DecodeBlock skips whitespace and miscounts padding. A frame is about a
// megabyte of base64, so this is table-driven: two output characters per
// lookup when encoding, one lookup per input character when decoding.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace socketengine::detail::legacy::base64 {

/// Characters needed to encode `n` bytes (padding included).
constexpr std::size_t encoded_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }

/// Most bytes that `n` characters can decode to.
constexpr std::size_t max_decoded_size(std::size_t n) noexcept { return (n + 3) / 4 * 3; }

/// Writes the encoding of `in`, encoded_size(in.size()) characters, to `out`.
void encode(std::span<const std::uint8_t> in, char* out) noexcept;

/// Decodes `in` into `out`, which has room for max_decoded_size(in.size())
/// bytes, and returns the number of bytes written. Accepts input with or
/// without its final padding; rejects (empty result) any character outside
/// the alphabet, whitespace included, padding anywhere but the end, and a
/// length that no encoding has.
[[nodiscard]] std::optional<std::size_t> decode(std::string_view in, std::uint8_t* out) noexcept;

} // namespace socketengine::detail::legacy::base64
