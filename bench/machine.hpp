#pragma once
// What both benchmark programs say about the machine they ran on, and the
// photo-like frames they send.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#ifdef __linux__
#include <sched.h>
#endif

#include <socketengine/image.hpp>

#include "photo.hpp"

namespace bench {

/// What nproc prints: the CPUs this process may run on.
inline unsigned usable_cores() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(CPU_COUNT(&set));
#endif
  return std::thread::hardware_concurrency();
}

/// The CPU's model name from /proc/cpuinfo, or "unknown".
inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
  }
  return "unknown";
}

/// Other work on the machine takes cores from the benchmark's threads: how
/// many cores were busy over `window` before the run, from the kernel's
/// counters in /proc/stat (the load average would also count a run that has
/// just finished); negative if unknown.
inline double cores_busy_before(std::chrono::milliseconds window) {
  auto sample = [](double& busy, double& total) {
    std::ifstream in("/proc/stat");
    std::string cpu;
    in >> cpu;
    busy = total = 0;
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy
    for (int i = 0; i < 8; ++i) {
      double ticks = 0;
      in >> ticks;
      total += ticks;
      if (i != 3 && i != 4) busy += ticks;
    }
    return static_cast<bool>(in) && cpu == "cpu";
  };
  double busy0 = 0, total0 = 0, busy1 = 0, total1 = 0;
  if (!sample(busy0, total0)) return -1;
  std::this_thread::sleep_for(window);
  if (!sample(busy1, total1) || total1 <= total0) return -1;
  return (busy1 - busy0) / (total1 - total0) * usable_cores();
}

/// `count` photo-like frames (make_photo), generated on every core: it
/// takes longer than most of what is measured after it.
inline std::vector<socketengine::image> make_frames(std::size_t count) {
  std::vector<socketengine::image> frames(count);
  std::atomic<std::size_t> next{0};
  {
    std::vector<std::jthread> workers;
    for (unsigned i = 0; i < std::max(1u, usable_cores()); ++i)
      workers.emplace_back([&] {
        for (std::size_t f; (f = next++) < count;)
          frames[f] = make_photo(static_cast<std::uint32_t>(f));
      });
  }
  return frames;
}

} // namespace bench
