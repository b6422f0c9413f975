#pragma once
/// \file socketengine.hpp
/// Everything in one include.

#include <socketengine/client.hpp>
#include <socketengine/connection.hpp>
#include <socketengine/discovery.hpp>
#include <socketengine/engine.hpp>
#include <socketengine/error.hpp>
#include <socketengine/handlers.hpp>
#include <socketengine/host.hpp>
#include <socketengine/hub.hpp>
#include <socketengine/image.hpp>
#include <socketengine/image_codec.hpp>
#include <socketengine/options.hpp>
#include <socketengine/value.hpp>
