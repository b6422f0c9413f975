#pragma once
// A child process for the interop tests: spawned with its stdout (and maybe
// its stdin) on pipes, read with a deadline, and killed when it goes out of
// scope, so a failing test never leaves one (and its sockets) behind.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <string>
#include <string_view>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace socketengine::test {

struct child_options {
  /// NAME=value entries set in the child, replacing any of the same name in
  /// this process's environment; the rest of that is passed on as it is.
  std::vector<std::string> env = {};
  /// Gives the child a pipe as stdin, for write_stdin(); else /dev/null.
  bool stdin_pipe = false;
  /// Sends the child's stderr down the stdout pipe too; else it shares ours.
  bool stderr_to_stdout = false;
};

class child_process {
public:
  enum class read_result { data, eof, timeout };

  /// Spawns argv[0] (a path, not looked up in PATH) with arguments `argv`.
  explicit child_process(std::vector<std::string> argv, const child_options& options = {}) {
    if (options.stdin_pipe) {
      // A child that died makes the next write_stdin a write to a closed
      // pipe; that must fail the test, not kill the whole test program.
      std::signal(SIGPIPE, SIG_IGN);
    }

    std::vector<std::string> env = options.env;
    for (char** e = environ; *e; ++e) {
      std::string_view entry = *e;
      auto replaces_entry = [&](std::string_view set) {
        return entry.starts_with(set.substr(0, set.find('=') + 1));
      };
      if (std::none_of(options.env.begin(), options.env.end(), replaces_entry))
        env.emplace_back(entry);
    }
    // Built before any pipe is open, so nothing below throws with one open.
    std::vector<char*> argv_p = pointers(argv);
    std::vector<char*> env_p = pointers(env);

    int in[2] = {-1, -1};
    int out[2];
    if (options.stdin_pipe && ::pipe2(in, O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe2");
    if (::pipe2(out, O_CLOEXEC) != 0) {
      int error = errno;
      close_fd(in[0]);
      close_fd(in[1]);
      throw std::system_error(error, std::generic_category(), "pipe2");
    }
    in_fd_ = in[1];
    out_fd_ = out[0];

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (options.stdin_pipe)
      posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    else
      posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    if (options.stderr_to_stdout)
      posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
    // The engines' sockets are not close-on-exec; a child holding a copy of
    // one would keep it open past the engine's close.
    posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
    int rc = ::posix_spawn(&pid_, argv_p[0], &actions, nullptr, argv_p.data(), env_p.data());
    posix_spawn_file_actions_destroy(&actions);
    close_fd(in[0]);
    close_fd(out[1]);
    if (rc != 0) {
      pid_ = -1;
      close_fd(in_fd_);
      close_fd(out_fd_);
      throw std::system_error(rc, std::generic_category(), "posix_spawn " + argv[0]);
    }
  }

  ~child_process() {
    kill();
    close_fd(in_fd_);
    close_fd(out_fd_);
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Writes all of `bytes` to the child's stdin; false if it is gone (or
  /// has no stdin pipe).
  bool write_stdin(std::string_view bytes) {
    if (in_fd_ < 0) return false;
    while (!bytes.empty()) {
      auto n = ::write(in_fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Appends to `into` what the child has written to its stdout, waiting
  /// for some up to `deadline`. Once the child has gone (and anything it
  /// wrote has been read), every call returns eof.
  read_result read_some(std::string& into, std::chrono::steady_clock::time_point deadline) {
    using namespace std::chrono;
    for (;;) {
      auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
      if (left <= 0ms) return read_result::timeout;
      pollfd pfd{out_fd_, POLLIN, 0};
      int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return read_result::timeout;
      char chunk[4096];
      auto n = ::read(out_fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return read_result::eof;
      into.append(chunk, static_cast<std::size_t>(n));
      return read_result::data;
    }
  }

  /// Waits up to `deadline` for the child to exit; its exit status, or -1
  /// if it did not exit in time or died by a signal. Read its output to EOF
  /// first: a child blocked writing to a full pipe never exits.
  int wait_exit(std::chrono::steady_clock::time_point deadline) {
    int status = 0;
    for (;;) {
      if (pid_ < 0) return -1;
      pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) break;
      if (done < 0 && errno != EINTR) return -1;
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  /// Sends `sig` to the child, if it is still there (SIGSTOP freezes it,
  /// SIGCONT thaws it).
  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  /// Kills the child (SIGKILL) and reaps it, if it is still there. Its end
  /// of the stdout pipe is closed then, so read_some soon returns eof.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

private:
  // The null-terminated array of C strings posix_spawn takes.
  static std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> result;
    for (auto& s : strings) result.push_back(s.data());
    result.push_back(nullptr);
    return result;
  }

  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  pid_t pid_ = -1;
  int in_fd_ = -1;
  int out_fd_ = -1;
};

} // namespace socketengine::test
