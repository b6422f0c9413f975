// The measuring helpers that every case of socketengine-bench uses (see
// compare.hpp): repetitions sized from a warm-up, quantiles, frame counting.

#include "compare.hpp"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <thread>

namespace compare {

namespace {
// The run's directory for socket files and the certificate: made when first
// asked for (mkdtemp makes it 0700), removed at exit.
class run_dir {
public:
  run_dir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "socketengine-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw failure("mkdtemp failed");
    path_ = pattern;
  }
  ~run_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  run_dir(const run_dir&) = delete;
  run_dir& operator=(const run_dir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

private:
  std::filesystem::path path_;
};
} // namespace

std::string run_path(const std::string& name) {
  static const run_dir dir;
  return (dir.path() / name).string();
}

double seconds_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::vector<double> measure_rate(const settings& s,
                                 const std::function<double(std::uint64_t)>& once) {
  // The warm-up grows until it takes long enough to say what a repetition
  // of rate_seconds holds; it also fills caches and grows socket buffers.
  std::uint64_t n = 10000;
  double took = once(n);
  while (took < 0.05 && n < (std::uint64_t{1} << 26)) took = once(n *= 4);
  const double per_s = static_cast<double>(n) / std::max(took, 1e-9);
  const auto count = static_cast<std::uint64_t>(
      std::clamp(per_s * s.rate_seconds, 1e4, static_cast<double>(std::uint64_t{1} << 30)));
  std::vector<double> rates;
  for (int i = 0; i < s.rate_repetitions; ++i)
    rates.push_back(static_cast<double>(count) / std::max(once(count), 1e-9));
  return rates;
}

double quantile(std::vector<double> samples, double q) {
  if (samples.empty()) return 0;
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
  auto at = samples.begin() + static_cast<std::ptrdiff_t>(rank);
  std::nth_element(samples.begin(), at, samples.end());
  return *at;
}

frame_rate time_frames(const settings& s, const std::function<frame_tally()>& tally) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s.frame_warmup));
  const auto a = tally();
  const auto ta = clock_type::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(s.frame_seconds));
  const auto b = tally();
  const auto tb = clock_type::now();
  if (b.frames == a.frames) throw failure("no frame arrived while counting");
  const auto frames = static_cast<double>(b.frames - a.frames);
  return {frames / seconds_between(ta, tb), static_cast<double>(b.bytes - a.bytes) / frames};
}

} // namespace compare
