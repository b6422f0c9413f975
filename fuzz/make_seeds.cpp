// Writes the seed corpora in fuzz/corpus/ (run from the repository root:
// socketengine_fuzz_seeds fuzz/corpus). Seeds are well-formed inputs, made
// with the engine's own encoders, that reach each decoder's paths; the
// fuzzer mutates from there. The files are kept in the repository, so this
// runs only when the wire formats change.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>

#include <socketengine/image.hpp>
#include <socketengine/value.hpp>

#include "discovery/message.hpp"
#include "image/jpeg.hpp"
#include "image/png.hpp"
#include "protocol/auth/handshake.hpp"
#include "protocol/legacy/line_codec.hpp"
#include "protocol/legacy/writer.hpp"
#include "protocol/native/frame_codec.hpp"
#include "connection_input.hpp"

namespace fs = std::filesystem;
using namespace socketengine;
using namespace socketengine::detail;

namespace {

fs::path root;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(root / target);
  std::ofstream(root / target / name, std::ios::binary) << bytes;
}

image pattern(std::uint32_t w, std::uint32_t h, pixel_order order) {
  image img(w, h, order);
  auto px = img.pixels();
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 7);
  return img;
}

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string line(std::string_view channel, const value& v) {
  std::string out;
  legacy::append_line(out, channel, v);
  return out;
}

// The first byte of a reader target's input is its read size.
std::string reads_of(std::uint8_t step, const std::string& bytes) {
  return std::string(1, static_cast<char>(step)) + bytes;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: socketengine_fuzz_seeds CORPUS_DIR\n");
    return 2;
  }
  root = argv[1];

  const value sample = {{"x", 1.5}, {"list", {1, -2, "caf\u00e9", nullptr, true}}, {"n", 1}};
  std::string png, jpeg;
  png::encode(pattern(8, 6, pixel_order::bgr), 1, png);
  jpeg::encode(pattern(16, 8, pixel_order::bgr), 90, jpeg);
  std::string gray_png;
  png::encode(pattern(5, 3, pixel_order::gray), 9, gray_png);
  std::string rgba_png;
  png::encode(pattern(4, 4, pixel_order::bgra), 1, rgba_png);

  // Lines, as a peer sends them.
  std::string lines = line("__name_conn", "cam") + line("pose", sample) + line("n", 42) +
                      line("s", "text") + "\n" + "{\"type\": \"spaced\" , \"data\" : [ ] }\r\n" +
                      line("__status", "__closing");
  std::string image_line;
  legacy::append_image_line(image_line, "__image", pattern(8, 6, pixel_order::bgr), 1);
  write("line", "values", reads_of(7, lines));
  write("line", "one_read", reads_of(63, lines));
  write("line", "image", reads_of(13, image_line));
  write("line", "bad", reads_of(3, "not json\n{\"type\":1}\n[[[[[[[[\n{\"data\":\"\\ud800\"}\n"));

  // Frames, as a native peer sends them.
  std::string frames;
  native::append_json(frames, "pose", sample);
  native::append_bytes(frames, "blob", bytes_of(std::string("\x00\x01\x02\xff", 4)));
  native::append_control(frames, native::control_code::ping);
  native::append_ack(frames, 3);
  std::string raw_frame =
      *native::encode_image(pattern(4, 3, pixel_order::rgb), image_encoding::raw, 1, 90);
  std::string png_frame;
  native::append_png_image(png_frame, pattern(8, 6, pixel_order::bgr), bytes_of(png));
  std::string jpeg_frame =
      *native::encode_image(pattern(16, 8, pixel_order::bgr), image_encoding::jpeg, 1, 90);
  write("frame", "values", reads_of(5, frames));
  write("frame", "raw_image", reads_of(17, raw_frame));
  write("frame", "png_image", reads_of(40, png_frame));
  write("frame", "jpeg_image", reads_of(9, jpeg_frame));
  std::string closing;
  native::append_control(closing, native::control_code::closing);
  write("frame", "closing", reads_of(1, closing));

  // A whole conversation: the greeting, the offer, the switch, then frames.
  std::string offer = line("__native", value{{"offer", 1}});
  std::string to_switch = line("__native", value{{"switch", 1}});
  std::string bytes_hint = line("__native", value{{"bytes", "blob"}}) + line("blob", "AAEC/w==");
  write("protocol", "legacy_only", reads_of(11, lines + image_line));
  write("protocol", "switch",
        reads_of(6, line("__name_conn", "peer") + offer + bytes_hint + to_switch + frames +
                        png_frame + raw_frame + closing));
  write("protocol", "switch_in_one_read",
        reads_of(63, line("__name_conn", "peer") + offer + to_switch + frames + jpeg_frame));
  write("protocol", "ack_lines",
        reads_of(20, image_line + line("__ack", "__ack") + line("__image", "%%%")));

  // A token engine's input (auth): the hello and the proof that answers
  // the target's fixed nonce, then a conversation; a 0.3 peer (the top bit
  // of the first byte: allow_legacy); a wrong proof; a refusal.
  protocol::settings hub_side;
  hub_side.hub = true;
  const legacy::writer greeter(0, hub_side, 1);
  auth::nonce theirs{};
  for (std::size_t i = 0; i < theirs.size(); ++i) theirs[i] = static_cast<std::uint8_t>(0x10 + i);
  const auth::secret token{std::string(protocol::fuzz_token)};
  std::string hello, proof, wrong_proof;
  greeter.append_hello(hello, theirs);
  legacy::writer::append_proof(
      proof, auth::prove(token, auth::role::dialler, protocol::fuzz_listener_nonce(), theirs));
  legacy::writer::append_proof(
      wrong_proof, auth::prove(token, auth::role::listener, protocol::fuzz_listener_nonce(), theirs));
  write("auth", "authenticated",
        reads_of(9, hello + proof + line("__name_conn", "peer") + line("n", 42) + to_switch +
                        frames + png_frame));
  write("auth", "legacy_allowed", reads_of(0x80 | 11, lines + image_line));
  write("auth", "legacy_refused", reads_of(11, lines));
  write("auth", "wrong_proof", reads_of(4, hello + wrong_proof + line("n", 1)));
  write("auth", "refused", reads_of(30, line("__native", value{{"refuse", "bad_token"}})));

  write("base64", "text", "aGVsbG8gd29ybGQ=");
  write("base64", "unpadded", "AAEC/w");
  write("base64", "bad", "a=b=");

  write("png", "bgr", png);
  write("png", "gray", gray_png);
  write("png", "rgba", rgba_png);
  write("jpeg", "bgr", jpeg);
  std::string gray_jpeg;
  jpeg::encode(pattern(8, 8, pixel_order::gray), 50, gray_jpeg);
  write("jpeg", "gray", gray_jpeg);

  discovery::answer here;
  here.name = "arm-7";
  here.id = "0123456789abcdef0123456789abcdef";
  here.protocol = 1;
  here.port = 8080;
  here.token = true;
  here.addresses = {"10.0.0.2", "fd00::2"};
  write("discovery", "query", discovery::encode(discovery::query{}));
  write("discovery", "query_named", discovery::encode(discovery::query{"robot"}));
  write("discovery", "answer", discovery::encode(here));
  std::printf("seeds written to %s\n", root.c_str());
  return 0;
}
