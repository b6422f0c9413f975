#pragma once
// UTF-8 validation, which every protocol's text needs and neither
// nlohmann::json nor the standard library offers: hand-written, after the
// table in RFC 3629 section 4.

#include <cstddef>
#include <string_view>

namespace socketengine::detail {

/// Length of the UTF-8 sequence starting at `p` (1..4), or 0 if it is not a
/// well-formed sequence (overlong forms, surrogates and code points past
/// U+10FFFF included). `end` bounds the read. For callers that check text
/// in a pass of their own (the line prescan also tracks nesting).
std::size_t utf8_sequence(const unsigned char* p, const unsigned char* end) noexcept;

/// True if `text` is well-formed UTF-8.
[[nodiscard]] bool is_utf8(std::string_view text) noexcept;

} // namespace socketengine::detail
