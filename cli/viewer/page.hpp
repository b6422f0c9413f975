#pragma once
// The viewer's page: HTML, CSS and JavaScript in one document, built into
// the program from page.html (see CMakeLists.txt), so that nothing is
// fetched from elsewhere.

#include <string_view>

namespace socketengine::cli::viewer {
extern const std::string_view page_html;
}
