#include "protocol/encoded.hpp"

#include "image/png.hpp"

namespace socketengine::detail::protocol {

const std::string& encoded_image::png() {
  if (png_.empty()) png::encode(img_, options_.png_compression, png_);
  return png_;
}

} // namespace socketengine::detail::protocol
