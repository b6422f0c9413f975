#pragma once
// A directory of a test's own under /tmp, removed with everything in it when
// the test ends: room for socket files that parallel tests cannot share.

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace socketengine::test {

class temp_dir {
public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "socketengine-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// `name` inside the directory.
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }
  /// The endpoint of a Unix domain socket named `name` inside the directory.
  [[nodiscard]] std::string endpoint(const std::string& name) const { return "unix:" + file(name); }

private:
  std::filesystem::path path_;
};

} // namespace socketengine::test
