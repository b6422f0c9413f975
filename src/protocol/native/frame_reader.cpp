#include "protocol/native/frame_reader.hpp"

#include <algorithm>
#include <cstring>

namespace socketengine::detail::native {

frame_reader::frame_reader(std::size_t max_frame, std::size_t buffer_size, memory_budget* budget,
                           buffer_pool* pool)
    : cap_(std::max(buffer_size, native::header_size)), max_frame_(max_frame), budget_(budget),
      pool_(pool) {}

std::span<char> frame_reader::prepare() {
  if (big_ && big_filled_ < big_size_) return {big_.get() + big_filled_, big_size_ - big_filled_};
  if (!buf_) {
    charge_or_throw(budget_, cap_);
    try {
      buf_ = std::make_unique_for_overwrite<char[]>(cap_);
    } catch (...) {
      if (budget_) budget_->release(cap_);
      throw;
    }
    alloc_ = cap_;
    begin_ = end_ = 0;
  }
  // An unfinished frame at the end of the buffer moves to its start when
  // little room is left after it; it is smaller than the buffer (larger
  // ones get their own), so it always fits.
  if (begin_ > 0 && alloc_ - end_ < alloc_ / 4) {
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  return {buf_.get() + end_, alloc_ - end_};
}

void frame_reader::commit(std::size_t n) noexcept {
  if (big_ && big_filled_ < big_size_)
    big_filled_ += n;
  else
    end_ += n;
}

void frame_reader::assign(std::string_view bytes) {
  release();
  if (bytes.empty()) return;
  auto size = std::max(cap_, bytes.size());
  charge_or_throw(budget_, size);
  try {
    buf_ = std::make_unique_for_overwrite<char[]>(size);
  } catch (...) {
    if (budget_) budget_->release(size);
    throw;
  }
  alloc_ = size;
  std::memcpy(buf_.get(), bytes.data(), bytes.size());
  end_ = bytes.size();
}

void frame_reader::start_big(std::size_t total) {
  // Allocated only now that the size field has passed the limit, and the
  // budget.
  frame_size_ = total;
  charge_or_throw(budget_, total);
  try {
    big_ = pool_ ? pool_->take(total) : std::shared_ptr<char[]>(new char[total]);
  } catch (...) {
    if (budget_) budget_->release(total);
    throw;
  }
  big_size_ = total;
  big_filled_ = std::min(end_ - begin_, total);
  std::memcpy(big_.get(), buf_.get() + begin_, big_filled_);
  begin_ += big_filled_;
  if (begin_ == end_) {
    buf_.reset();
    if (budget_) budget_->release(alloc_);
    alloc_ = begin_ = end_ = 0;
  }
}

} // namespace socketengine::detail::native
