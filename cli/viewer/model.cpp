#include "model.hpp"

#include <socketengine/image_codec.hpp>

#include "../messages.hpp"

namespace socketengine::cli::viewer {

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace

model::model(frame_format format, int jpeg_quality) : format_(format), jpeg_quality_(jpeg_quality) {}

model::entry* model::entry_for(const std::string& peer, const std::string& channel,
                               bool is_image) {
  auto [it, fresh] = ids_.try_emplace({peer, channel, is_image}, 0);
  if (!fresh) return &entries_[it->second - 1];
  if (entries_.size() >= max_topics) {
    ids_.erase(it);
    return nullptr;
  }
  it->second = static_cast<std::uint32_t>(entries_.size() + 1);
  auto& e = entries_.emplace_back();
  e.t = {it->second, peer, channel, is_image};
  return &e;
}

void model::changed(entry& e) {
  e.changed = version_.fetch_add(1) + 1;
}

void model::on_value(const std::string& peer, const std::string& channel, const value& v) {
  auto record = value_record(peer, channel, v);
  // The record's text is the value's compact JSON already, except for
  // bytes, which it names; a string of that name stands in for them.
  std::string json = v.is_binary() ? value(record.text).dump() : record.text;
  {
    std::lock_guard lk(mu_);
    auto* e = entry_for(peer, channel, false);
    if (!e) return;
    peers_[peer] = true; // a peer that writes is connected, whatever was said before
    e->last.json = std::move(json);
    e->last.received_ns = now_ns();
    ++e->last.seq;
    changed(*e);
  }
  counts_.count(record);
  if (notify_) notify_();
}

void model::on_frame(const std::string& peer, const image& img) {
  {
    std::lock_guard lk(mu_);
    auto* e = entry_for(peer, "image", true);
    if (!e) return;
    peers_[peer] = true;
    e->frame = img;
    e->last.received_ns = now_ns();
    ++e->last.seq;
    e->encoded.reset();
    changed(*e);
  }
  counts_.count(image_record(peer, img));
  if (notify_) notify_();
}

void model::on_peer(const std::string& peer, bool open) {
  {
    std::lock_guard lk(mu_);
    peers_[peer] = open;
    version_.fetch_add(1);
  }
  if (notify_) notify_();
}

std::optional<topic> model::topic_of(std::uint32_t id) const {
  std::lock_guard lk(mu_);
  if (id == 0 || id > entries_.size()) return std::nullopt;
  return entries_[id - 1].t;
}

std::vector<topic> model::topics_after(std::uint32_t after) const {
  std::lock_guard lk(mu_);
  std::vector<topic> out;
  for (std::size_t i = after; i < entries_.size(); ++i) out.push_back(entries_[i].t);
  return out;
}

std::optional<latest_value> model::value_after(std::uint32_t id, std::uint64_t after_seq) const {
  std::lock_guard lk(mu_);
  if (id == 0 || id > entries_.size()) return std::nullopt;
  const auto& e = entries_[id - 1];
  if (e.t.is_image || e.last.seq <= after_seq) return std::nullopt;
  return e.last;
}

std::vector<std::pair<topic, latest_value>> model::values_since(std::uint64_t since) const {
  std::lock_guard lk(mu_);
  std::vector<std::pair<topic, latest_value>> out;
  for (const auto& e : entries_)
    if (!e.t.is_image && e.changed > since) out.emplace_back(e.t, e.last);
  return out;
}

std::shared_ptr<const encoded_frame> model::frame_after(std::uint32_t id, std::uint64_t after_seq) {
  image img;
  auto out = std::make_shared<encoded_frame>();
  {
    std::lock_guard lk(mu_);
    if (id == 0 || id > entries_.size()) return nullptr;
    auto& e = entries_[id - 1];
    if (!e.t.is_image || e.last.seq <= after_seq) return nullptr;
    if (e.encoded && e.encoded->seq == e.last.seq) return e.encoded;
    img = e.frame; // shares the pixels; the engine never writes them again
    out->stream = id;
    out->seq = e.last.seq;
    out->received_ns = e.last.received_ns;
  }
  out->width = img.width();
  out->height = img.height();
  out->format = format_;
  out->bytes = format_ == frame_format::jpeg ? encode_jpeg(img, jpeg_quality_) : encode_png(img);
  std::lock_guard lk(mu_);
  auto& e = entries_[id - 1];
  if (e.last.seq == out->seq) e.encoded = out;
  return out;
}

std::vector<model::rates> model::all_rates() {
  auto rows = counts_.rows();
  std::lock_guard lk(mu_);
  std::vector<rates> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    auto it = ids_.find({r.peer, r.channel, r.is_image});
    if (it == ids_.end()) continue;
    rates x{it->second, r.per_second, r.bytes_per_second, r.age_seconds, r.last_size, r.total};
    if (r.is_image) {
      const auto& frame = entries_[it->second - 1].frame;
      x.width = frame.width();
      x.height = frame.height();
    }
    out.push_back(x);
  }
  return out;
}

std::vector<std::pair<std::string, bool>> model::peers() const {
  std::lock_guard lk(mu_);
  return {peers_.begin(), peers_.end()};
}

} // namespace socketengine::cli::viewer
