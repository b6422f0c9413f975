// socketengine bench: socketengine-bench (the side-by-side benchmark, a
// program of its own because it links ZeroMQ) with a progress display.

#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "cli.hpp"

extern char** environ;

namespace socketengine::cli {

namespace {

// Installed, it sits beside this program; in a build tree, in bench/ next
// to cli/.
std::filesystem::path find_bench() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto candidate : {self.parent_path() / "socketengine-bench",
                           self.parent_path().parent_path() / "bench" / "socketengine-bench"})
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw error(exit_failure,
              "socketengine-bench is not installed beside this program (it is built with "
              "-DSOCKETENGINE_BUILD_BENCHMARKS=ON, which needs libzmq3-dev)");
}

class progress {
public:
  explicit progress(bool tty) : tty_(tty) {}
  using clock = std::chrono::steady_clock;

  // A line the benchmark wrote on stderr.
  void line(std::string_view text) {
    constexpr std::string_view tag = "socketengine-bench: ";
    if (!tty_ || !text.starts_with(tag) || text.starts_with("socketengine-bench: FAILED")) {
      clear();
      fmt::print(stderr, "{}\n", text);
      redraw();
      return;
    }
    finish_case();
    current_ = std::string(text.substr(tag.size()));
    ++count_;
    since_ = clock::now();
    redraw();
  }
  // The running case with its time so far, in place.
  void redraw() {
    if (!tty_ || current_.empty()) return;
    fmt::print(stderr, "\r\x1b[K[{}] {} {:.0f} s", count_, current_,
               std::chrono::duration<double>(clock::now() - since_).count());
    std::fflush(stderr);
  }
  void finish_case() {
    if (!tty_ || current_.empty()) return;
    fmt::print(stderr, "\r\x1b[K[{}] {}: {:.1f} s\n", count_, current_,
               std::chrono::duration<double>(clock::now() - since_).count());
    current_.clear();
  }

private:
  void clear() {
    if (tty_ && !current_.empty()) fmt::print(stderr, "\r\x1b[K");
  }
  bool tty_;
  std::string current_;
  int count_ = 0;
  clock::time_point since_;
};

} // namespace

int run_bench(const bench_args& a, const common_options& o, stop_signal& stop) {
  const auto bench = find_bench();
  std::vector<std::string> args{bench.string()};
  if (a.quick) args.emplace_back("--quick");
  if (o.legacy) args.emplace_back("--legacy");
  if (!a.only.empty()) {
    args.emplace_back("--only");
    args.push_back(a.only);
  }
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  int err_pipe[2];
  if (pipe(err_pipe) != 0) throw error(exit_failure, std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
  posix_spawn_file_actions_addclose(&actions, err_pipe[1]);
  // This program blocks SIGINT and SIGTERM (see stop_signal); the
  // benchmark takes them as any program does, so Ctrl-C ends it.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  int spawned = posix_spawn(&pid, bench.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(err_pipe[1]);
  if (spawned != 0) {
    close(err_pipe[0]);
    throw error(exit_failure, fmt::format("cannot run {}: {}", bench.string(), std::strerror(spawned)));
  }

  // Its stdout (the table, the JSON line last) is this program's; its
  // stderr (a line as each case starts) becomes the progress display.
  progress shown(isatty(STDERR_FILENO) != 0);
  std::string pending;
  std::array<char, 4096> buf{};
  bool forwarded = false;
  for (;;) {
    // SIGINT and SIGTERM to this program go on to the benchmark (Ctrl-C
    // on a terminal reaches both; `kill` or `timeout` reach only this one).
    if (stop.poll() && stop.interrupted() && !forwarded) {
      kill(pid, stop.last_signal());
      forwarded = true;
    }
    pollfd p{err_pipe[0], POLLIN, 0};
    int ready = poll(&p, 1, 200);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      shown.redraw(); // the running case's clock
      continue;
    }
    auto n = read(err_pipe[0], buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf.data(), static_cast<std::size_t>(n));
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
      shown.line(std::string_view(pending).substr(0, nl));
      pending.erase(0, nl + 1);
    }
  }
  if (!pending.empty()) shown.line(pending);
  close(err_pipe[0]);
  shown.finish_case();
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    if (WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM) return exit_interrupted;
    throw error(exit_failure, fmt::format("socketengine-bench ended by signal {}", WTERMSIG(status)));
  }
  return WEXITSTATUS(status);
}

} // namespace socketengine::cli
