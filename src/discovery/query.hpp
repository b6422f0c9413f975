#pragma once
// The asking side of LAN discovery, shared by discover() and
// hub::connect_by_name().

#include <vector>

#include <socketengine/discovery.hpp>

namespace socketengine::detail::discovery {

/// Sends the query `o` describes and collects the answers until its
/// timeout; with `first`, returns as soon as one has come (with any others
/// already arrived). Throws as discover().
[[nodiscard]] std::vector<discovered_hub> ask(const discover_options& o, bool first);

} // namespace socketengine::detail::discovery
