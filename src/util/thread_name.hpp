#pragma once
// Names the calling thread, so that `top -H`, `ps -L` and debuggers show
// which engine's thread is which ("se-hub-io", "se-client-work").

#include <pthread.h>

#include <algorithm>
#include <string>
#include <string_view>

namespace socketengine::detail {

/// Names the calling thread "se-<engine>-<role>", cut to the 15 characters
/// Linux keeps. Best effort: a name that cannot be set is left alone.
inline void name_this_thread(std::string_view engine, std::string_view role) {
  std::string name = "se-";
  name += engine;
  name += '-';
  name += role;
  name.resize(std::min<std::size_t>(name.size(), 15));
  (void)::pthread_setname_np(::pthread_self(), name.c_str());
}

} // namespace socketengine::detail
