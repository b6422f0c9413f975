#pragma once
// A message or an image encoded at most once per protocol, on first need,
// and shared by every connection it goes to: a hub's write_all encodes a
// line for its legacy peers and a frame for its native ones, whatever the
// number of each.
//
// Threading: one thread at a time (the writer's); the encodings it hands
// out may then be shared with any thread.

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include <socketengine/image.hpp>
#include <socketengine/options.hpp>
#include <socketengine/value.hpp>

#include "protocol/writer.hpp"

namespace socketengine::detail::protocol {

class encoded_message {
public:
  /// Refers to `channel` and `v`, which must outlive it.
  encoded_message(std::string_view channel, const value& v) : channel_(channel), value_(v) {}

  /// The message as `w` writes it. \throws as writer::append_value.
  const std::string& in(const writer& w) {
    if (const auto& block = shared_[w.slot()]) return *block;
    auto& form = forms_[w.slot()];
    if (!made_[w.slot()]) {
      w.append_value(form, channel_, value_);
      made_[w.slot()] = true;
    }
    return form;
  }

  /// As in(w), as a block that queues may hold by reference: made once (by
  /// moving the encoding, not copying it) and shared by every connection
  /// the message goes to. \throws as writer::append_value.
  std::shared_ptr<const std::string> shared_in(const writer& w) {
    auto& block = shared_[w.slot()];
    if (!block) {
      in(w);
      block = std::make_shared<const std::string>(std::move(forms_[w.slot()]));
    }
    return block;
  }

  [[nodiscard]] std::string_view channel() const noexcept { return channel_; }

private:
  std::string_view channel_;
  const value& value_;
  std::array<std::string, writer::slots> forms_;
  std::array<bool, writer::slots> made_{};
  std::array<std::shared_ptr<const std::string>, writer::slots> shared_;
};

class encoded_image {
public:
  /// Refers to `img` and `options`, which must outlive it; `encoding`: how
  /// a native peer gets this image; `share_pixels`: a raw frame may keep
  /// `img` (a copy sharing its pixels) instead of copying them
  /// (connection::write_image with share_pixels).
  encoded_image(const image& img, image_encoding encoding, const image_options& options,
                bool share_pixels = false)
      : img_(img), encoding_(encoding), options_(options), share_pixels_(share_pixels) {}

  /// The image as `w` sends it. \throws as writer::encode_image.
  const image_bytes& in(const writer& w) {
    auto& form = forms_[w.slot()];
    if (!form) form = w.encode_image(*this);
    return form;
  }

  [[nodiscard]] const image& picture() const noexcept { return img_; }
  [[nodiscard]] image_encoding encoding() const noexcept { return encoding_; }
  [[nodiscard]] bool shares_pixels() const noexcept { return share_pixels_; }
  [[nodiscard]] const image_options& options() const noexcept { return options_; }

  /// The image as a PNG, encoded on first use: legacy peers get PNG, and
  /// native ones too by default, so one encoding serves both.
  /// \throws as png::encode.
  const std::string& png();

private:
  const image& img_;
  image_encoding encoding_;
  const image_options& options_;
  bool share_pixels_;
  std::string png_;
  std::array<image_bytes, writer::slots> forms_;
};

} // namespace socketengine::detail::protocol
