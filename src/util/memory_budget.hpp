#pragma once
// One engine's budget for the bytes its connections hold of what they
// received: partial lines and frames, stored values and images. Readers
// charge a buffer before they allocate it and give the charge back when
// they let it go, so whatever size fields and unfinished lines peers send,
// the read that would pass the limit fails instead. Stores charge what
// they keep after the fact, and the engine then brings the total back
// under the limit by dropping what closed connections kept and closing
// the largest holders (see limits::max_receive_bytes).
//
// Threading: any thread; charges are atomic.

#include <atomic>
#include <cstddef>
#include <system_error>
#include <utility>

namespace socketengine::detail {

class memory_budget {
public:
  /// `limit`: bytes that may be charged at once; 0: no limit (still counted).
  explicit memory_budget(std::size_t limit) noexcept : limit_(limit) {}

  /// Charges `n` bytes; false, charging nothing, if that would pass the limit.
  [[nodiscard]] bool try_charge(std::size_t n) noexcept {
    auto now = used_.load(std::memory_order_relaxed);
    do {
      if (limit_ != 0 && (n > limit_ || now > limit_ - n)) return false;
    } while (!used_.compare_exchange_weak(now, now + n, std::memory_order_relaxed));
    return true;
  }

  /// Charges `n` bytes already held, whatever the limit: what is stored
  /// (values, images) is counted here and then brought back under the
  /// limit by the engine (see over()).
  void charge(std::size_t n) noexcept { used_.fetch_add(n, std::memory_order_relaxed); }

  /// Gives back `n` bytes charged before.
  void release(std::size_t n) noexcept { used_.fetch_sub(n, std::memory_order_relaxed); }

  /// True while more than the limit is charged.
  [[nodiscard]] bool over() const noexcept { return limit_ != 0 && used() > limit_; }

  [[nodiscard]] std::size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::size_t limit() const noexcept { return limit_; }

private:
  const std::size_t limit_;
  std::atomic<std::size_t> used_{0};
};

/// What a reader throws when its buffer would pass the budget: the
/// connection that reads closes with errc::over_budget.
class over_budget : public std::exception {
public:
  over_budget(std::size_t wanted, std::size_t used, std::size_t limit) noexcept
      : wanted_(wanted), used_(used), limit_(limit) {}
  [[nodiscard]] const char* what() const noexcept override {
    return "the engine's budget for what it received is spent";
  }
  [[nodiscard]] std::size_t wanted() const noexcept { return wanted_; }
  [[nodiscard]] std::size_t used() const noexcept { return used_; }
  [[nodiscard]] std::size_t limit() const noexcept { return limit_; }

private:
  std::size_t wanted_, used_, limit_;
};

/// Bytes charged to a budget, given back when this goes: what a buffer
/// handed from a reader to other work takes its charge along in.
class budget_charge {
public:
  budget_charge() noexcept = default;
  /// Takes over `n` bytes already charged to `budget` (may be null).
  budget_charge(memory_budget* budget, std::size_t n) noexcept : budget_(budget), n_(n) {}
  budget_charge(budget_charge&& o) noexcept
      : budget_(std::exchange(o.budget_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  budget_charge& operator=(budget_charge&& o) noexcept {
    if (this != &o) {
      reset();
      budget_ = std::exchange(o.budget_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  ~budget_charge() { reset(); }

  [[nodiscard]] std::size_t size() const noexcept { return n_; }

  /// Gives the charge back now.
  void reset() noexcept {
    if (budget_) budget_->release(n_);
    budget_ = nullptr;
    n_ = 0;
  }

private:
  memory_budget* budget_ = nullptr;
  std::size_t n_ = 0;
};

/// Charges `n` bytes to `budget` (if any), or throws over_budget.
inline void charge_or_throw(memory_budget* budget, std::size_t n) {
  if (budget && !budget->try_charge(n)) throw over_budget(n, budget->used(), budget->limit());
}

} // namespace socketengine::detail
