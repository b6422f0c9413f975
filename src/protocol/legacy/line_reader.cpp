#include "protocol/legacy/line_reader.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace socketengine::detail::legacy {

namespace {
// Buffers above this are returned once idle, so one large message does not
// pin megabytes to an idle connection.
constexpr std::size_t idle_keep = 64 * 1024;
} // namespace

line_reader::line_reader(std::size_t max_line, std::size_t min_read, memory_budget* budget)
    : max_line_(max_line), min_read_(std::max<std::size_t>(min_read, 1)), budget_(budget) {}

std::span<char> line_reader::prepare() {
  if (cap_ - end_ >= min_read_) return {buf_.data() + end_, cap_ - end_};
  // Move the unfinished line to the front before growing.
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    scan_ -= begin_;
    begin_ = 0;
    if (cap_ - end_ >= min_read_) return {buf_.data() + end_, cap_ - end_};
  }
  // Room for the longest line, its '\n' and one more read is all a reader
  // can ever need; doubling up to that keeps growth amortised O(n).
  // Saturating, for a limit set to "no limit".
  std::size_t limit = max_line_ > SIZE_MAX - 1 - min_read_ ? SIZE_MAX : max_line_ + 1 + min_read_;
  std::size_t want = std::max(end_ + min_read_, cap_ == 0 ? min_read_ : cap_ * 2);
  want = std::min(want, std::max(limit, end_ + 1));
  charge_or_throw(budget_, want - cap_);
  try {
    // Past byte_buffer::mapped_from this remaps pages instead of copying
    // the line so far, which at tens of megabytes would hold up the I/O
    // thread at each doubling.
    buf_.grow(want, end_);
  } catch (...) {
    if (budget_) budget_->release(want - cap_);
    throw;
  }
  cap_ = want;
  return {buf_.data() + end_, cap_ - end_};
}

line_reader::taken line_reader::take(std::string_view line) {
  // consume() has moved begin_ past the line: what is left is what
  // followed it, at most one read's worth, copied into a buffer of its own.
  std::size_t rest = end_ - begin_;
  byte_buffer next;
  std::size_t next_cap = 0;
  if (rest > 0) {
    next_cap = std::max(rest, min_read_);
    next = byte_buffer(next_cap);
    std::memcpy(next.data(), buf_.data() + begin_, rest);
    // Charged whatever the limit, as what is already held: the engine
    // brings the total back under it (memory_budget::charge).
    if (budget_) budget_->charge(next_cap);
  }
  taken t{std::move(buf_), budget_charge(budget_, cap_), line};
  buf_ = std::move(next);
  cap_ = next_cap;
  begin_ = scan_ = 0;
  end_ = rest;
  return t;
}

void line_reader::assign(std::string_view bytes) {
  if (bytes.empty()) return;
  // Sized to the bytes, past the usual bound if need be: a line too long
  // among them is refused by consume() as any other.
  std::size_t want = std::max(bytes.size(), min_read_);
  charge_or_throw(budget_, want);
  try {
    buf_.grow(want, 0);
  } catch (...) {
    if (budget_) budget_->release(want);
    throw;
  }
  cap_ = want;
  std::memcpy(buf_.data(), bytes.data(), bytes.size());
  begin_ = scan_ = 0;
  end_ = bytes.size();
}

void line_reader::shrink_if_idle() noexcept {
  if (end_ == 0 && cap_ > idle_keep) {
    buf_.reset();
    if (budget_) budget_->release(cap_);
    cap_ = 0;
  }
}

} // namespace socketengine::detail::legacy
