#pragma once
/// \file value.hpp
/// The type of a channel value.

#include <nlohmann/json.hpp>

namespace socketengine {

/// A channel value: any JSON value (string, number, boolean, null, array,
/// object), as socket.engine 0.3 peers send them. Strings, numbers and
/// booleans convert implicitly, so `c.write("speed", 3.5)` and
/// `c.write("connected", true)` need no wrapping.
using value = nlohmann::json;

} // namespace socketengine
