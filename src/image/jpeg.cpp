#include "image/jpeg.hpp"

#include <turbojpeg.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <utility>

#include <socketengine/error.hpp>

namespace socketengine::detail::jpeg {

namespace {

struct handle_deleter {
  void operator()(void* h) const noexcept { tjDestroy(h); }
};
using handle_ptr = std::unique_ptr<void, handle_deleter>;

// libjpeg's limit on either side of an image, JPEG_MAX_DIMENSION: the
// format's 16-bit fields would allow 65535.
constexpr std::uint32_t max_side = 65500;

// This thread's compressor, made on first use and freed at thread exit.
// Sharing it between images is safe: tjCompress2 sets every parameter and
// table afresh on each call, so nothing carries over from the last image.
handle_ptr& thread_compressor() {
  thread_local handle_ptr handle;
  return handle;
}

// TurboJPEG reads every pixel order the image type has, so nothing is
// converted or copied on the way in.
int pixel_format_of(pixel_order o) {
  switch (o) {
  case pixel_order::gray: return TJPF_GRAY;
  case pixel_order::bgr: return TJPF_BGR;
  case pixel_order::rgb: return TJPF_RGB;
  case pixel_order::bgra: return TJPF_BGRX; // the X byte, alpha here, is skipped
  case pixel_order::rgba: return TJPF_RGBX;
  }
  return TJPF_UNKNOWN;
}

} // namespace

void encode(const image& img, int quality, std::string& out) {
  if (img.empty()) throw std::invalid_argument("socketengine: cannot encode an empty image");
  // Checked here, not left to libjpeg: the output buffer is sized for the
  // image before libjpeg sees it, and a side past 65500 would not fit an int.
  if (img.width() > max_side || img.height() > max_side)
    throw std::invalid_argument("socketengine: " + std::to_string(img.width()) + " x " +
                                std::to_string(img.height()) +
                                " pixels is too large for a JPEG (65500 a side at most)");
  handle_ptr& handle = thread_compressor();
  if (!handle) {
    handle.reset(tjInitCompress());
    if (!handle) throw std::bad_alloc();
  }
  const int width = static_cast<int>(img.width());
  const int height = static_cast<int>(img.height());
  const int subsamp = img.order() == pixel_order::gray ? TJSAMP_GRAY : TJSAMP_420;

  // The JPEG is written straight into `out`, grown first to the worst case
  // for this size and subsampling: with TJFLAG_NOREALLOC libjpeg-turbo
  // writes into that buffer (and fails rather than overrun it) instead of
  // allocating its own, which would then have to be copied. It takes
  // tjBufSize of the same arguments as the buffer's size, whatever `size`
  // says, so the two must agree. Growing a std::string zero-fills it, which
  // C++20 offers no way around (writing past size() into reserved capacity
  // is undefined, and a later resize would zero what was written): 0.9 MB
  // for a 640x480 frame, about 18 us against 0.8 ms to encode it.
  const unsigned long bound = tjBufSize(width, height, subsamp);
  if (bound == static_cast<unsigned long>(-1))
    throw std::runtime_error(std::string("JPEG encoder: ") + tjGetErrorStr2(nullptr));
  const std::size_t start = out.size();
  out.resize(start + bound);
  auto* dst = reinterpret_cast<unsigned char*>(out.data() + start);
  unsigned long size = bound;
  if (tjCompress2(handle.get(), img.data(), width, 0, height, pixel_format_of(img.order()), &dst,
                  &size, subsamp, std::clamp(quality, 1, 100), TJFLAG_NOREALLOC) != 0) {
    std::string why = tjGetErrorStr2(handle.get());
    out.resize(start);
    // The next call gets a new compressor rather than one an error may have
    // left part-way through an image.
    handle.reset();
    throw std::runtime_error("JPEG encoder: " + why);
  }
  out.resize(start + size);
}

std::optional<image> decode(std::span<const std::uint8_t> jpeg, std::uint64_t max_pixels,
                            std::error_code& ec, std::string& detail) {
  auto fail = [&](errc e, std::string why) -> std::optional<image> {
    ec = e;
    detail = std::move(why);
    return std::nullopt;
  };
  ec.clear();
  if (jpeg.empty()) return fail(errc::invalid_image, "not a JPEG: no data");

  // A decompressor for each image, not one kept per thread as the
  // compressor is: in libjpeg-turbo 2.1 a decompressor carries state from
  // one image into the next. It keeps the Huffman and quantization tables,
  // so a frame that relies on the default Huffman tables (Motion JPEG
  // frames leave them out) fails after a JPEG that defined its own, and one
  // that lacks its quantization tables decodes with the last image's
  // instead of being refused; and after a header that fails part-way it
  // cannot read the next valid JPEG at all. One peer's bad frame would
  // spoil the thread's decoding for everybody. Making a decompressor costs
  // about 0.3 us, against milliseconds to decode a 640x480 frame.
  handle_ptr handle(tjInitDecompress());
  if (!handle) throw std::bad_alloc();
  auto why = [&] { return std::string(tjGetErrorStr2(handle.get())); };

  int width = 0;
  int height = 0;
  int subsamp = 0;
  int colorspace = 0;
  // Fails on warnings too, such as stray bytes between markers, which a
  // valid JPEG does not have.
  if (tjDecompressHeader3(handle.get(), jpeg.data(), jpeg.size(), &width, &height, &subsamp,
                          &colorspace) != 0)
    return fail(errc::invalid_image, "not a valid JPEG header: " + why());
  // Success without a size: the data holds tables but no image (or ends
  // after the start marker). libjpeg-turbo would keep the tables for the
  // next image, were the decompressor used again.
  if (width <= 0 || height <= 0)
    return fail(errc::invalid_image, "not a JPEG image: no frame header");

  const std::uint64_t pixels = std::uint64_t(width) * std::uint64_t(height);
  if (pixels > max_pixels)
    return fail(errc::image_too_large, std::to_string(width) + " x " + std::to_string(height) +
                                           " pixels is more than " + std::to_string(max_pixels));
  // libjpeg-turbo cannot convert CMYK to colour; refused here rather than
  // after allocating the pixels.
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    return fail(errc::invalid_image, "a CMYK JPEG: only gray and colour JPEGs are supported");

  const bool gray = colorspace == TJCS_GRAY;
  const pixel_order order = gray ? pixel_order::gray : pixel_order::bgr;
  // Pixels are not zeroed first: the decoder writes every byte or fails.
  auto buffer = std::make_shared_for_overwrite<std::uint8_t[]>(
      static_cast<std::size_t>(pixels) * static_cast<std::size_t>(channels_of(order)));
  // Every failure refuses the JPEG, warnings included, though
  // tjGetErrorCode tells warnings apart. A JPEG cut short is only a warning
  // to libjpeg-turbo, which fills in the rest in gray, and so is corrupt
  // entropy-coded data, decoded into made-up blocks; and once a warning has
  // been given, a later fatal error is reported as a warning too, with rows
  // left unwritten. STOPONWARNING stops at the first one instead of
  // decoding on to a result that is thrown away. LIMITSCANS refuses
  // progressive JPEGs with an absurd number of scans, a known way to make a
  // small file take minutes to decode.
  if (tjDecompress2(handle.get(), jpeg.data(), jpeg.size(), buffer.get(), width, 0, height,
                    gray ? TJPF_GRAY : TJPF_BGR, TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0)
    return fail(errc::invalid_image, "corrupt or truncated JPEG: " + why());

  std::uint8_t* data = buffer.get();
  return image::wrap(static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height), order,
                     data, std::move(buffer));
}

} // namespace socketengine::detail::jpeg
