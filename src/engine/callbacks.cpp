#include "engine/callbacks.hpp"

#include <cstdio>

#include <socketengine/error.hpp>

#include "util/thread_name.hpp"

namespace socketengine::detail {

namespace {
// Runs one user callback, turning an exception into a report.
template <class F, class Report>
void guarded(F&& call, Report&& report, const std::string& what) {
  try {
    call();
  } catch (const std::exception& e) {
    report(what + ": " + e.what());
  } catch (...) {
    report(what + " threw");
  }
}
} // namespace

void callbacks::start(std::size_t max_events, std::size_t max_bytes) {
  dispatcher_ = std::make_unique<dispatcher>(
      max_events, max_bytes, [weak = weak_from_this()](std::size_t n) {
        if (auto self = weak.lock())
          self->report(nullptr, errc::callback_queue_overflow,
                       std::to_string(n) + " events dropped: callbacks are too slow");
      });
  dispatcher_->post([label = label_] { name_this_thread(label, "cb"); });
}

void callbacks::stop() {
  if (dispatcher_) dispatcher_->stop();
}

void callbacks::add_handler(std::string_view channel, message_handler h) {
  std::lock_guard lk(mu_);
  handlers_[std::string(channel)].push_back(std::make_shared<const message_handler>(std::move(h)));
}

void callbacks::add_any_handler(any_message_handler h) {
  std::lock_guard lk(mu_);
  any_handlers_.push_back(std::make_shared<const any_message_handler>(std::move(h)));
}

void callbacks::add_image_handler(image_handler h) {
  std::lock_guard lk(mu_);
  image_handlers_.push_back(std::make_shared<const image_handler>(std::move(h)));
}

void callbacks::add_lifecycle_handler(event e, connection_handler h) {
  std::lock_guard lk(mu_);
  lifecycle_handlers_[static_cast<std::size_t>(e)].push_back(
      std::make_shared<const connection_handler>(std::move(h)));
}

void callbacks::set_error_handler(error_handler h) {
  std::lock_guard lk(mu_);
  error_handler_ = h ? std::make_shared<const error_handler>(std::move(h)) : nullptr;
}

void callbacks::message(const std::shared_ptr<connection>& c, std::string channel, value v,
                        std::size_t bytes) {
  dispatcher_->post(
      [weak = weak_from_this(), c, channel = std::move(channel), v = std::move(v)] {
        auto self = weak.lock();
        if (!self) return;
        std::vector<std::shared_ptr<const message_handler>> hs;
        std::vector<std::shared_ptr<const any_message_handler>> any;
        {
          std::lock_guard lk(self->mu_);
          if (auto it = self->handlers_.find(channel); it != self->handlers_.end()) hs = it->second;
          any = self->any_handlers_;
        }
        auto report = [&](const std::string& d) { self->report(c, errc::handler_threw, d); };
        std::string what = "handler for \"" + channel + "\"";
        for (auto& h : hs) guarded([&] { (*h)(c, v); }, report, what);
        for (auto& h : any) guarded([&] { (*h)(c, channel, v); }, report, what);
      },
      bytes);
}

void callbacks::image(const std::shared_ptr<connection>& c, socketengine::image img) {
  std::size_t bytes = img.size_bytes();
  dispatcher_->post(
      [weak = weak_from_this(), c, img = std::move(img)] {
        auto self = weak.lock();
        if (!self) return;
        std::vector<std::shared_ptr<const image_handler>> hs;
        {
          std::lock_guard lk(self->mu_);
          hs = self->image_handlers_;
        }
        auto report = [&](const std::string& d) { self->report(c, errc::handler_threw, d); };
        for (auto& h : hs) guarded([&] { (*h)(c, img); }, report, "image handler");
      },
      bytes);
}

void callbacks::error(const std::shared_ptr<connection>& c, std::error_code ec,
                      std::string detail) {
  dispatcher_->post([weak = weak_from_this(), c, ec, detail = std::move(detail)] {
    if (auto self = weak.lock()) self->report(c, ec, detail);
  });
}

void callbacks::lifecycle(const std::shared_ptr<connection>& c, event e) {
  auto index = static_cast<std::size_t>(e);
  {
    std::lock_guard lk(mu_);
    if (lifecycle_handlers_[index].empty()) return;
  }
  dispatcher_->post(
      [weak = weak_from_this(), c, index] {
        auto self = weak.lock();
        if (!self) return;
        std::vector<std::shared_ptr<const connection_handler>> hs;
        {
          std::lock_guard lk(self->mu_);
          hs = self->lifecycle_handlers_[index];
        }
        static const char* const names[] = {"connect handler", "disconnect handler",
                                            "link-down handler", "link-up handler"};
        auto report = [&](const std::string& d) { self->report(c, errc::handler_threw, d); };
        for (auto& h : hs) guarded([&] { (*h)(c); }, report, names[index]);
      },
      0, /*lifecycle=*/true);
}

void callbacks::report(const std::shared_ptr<connection>& c, std::error_code ec,
                       const std::string& detail) {
  std::shared_ptr<const error_handler> h;
  {
    std::lock_guard lk(mu_);
    h = error_handler_;
  }
  if (h) {
    try {
      (*h)(c, ec, detail);
      return;
    } catch (...) {
      // An error handler that throws has nowhere left to report to; fall
      // through to stderr rather than lose the report.
    }
  }
  // Appended piece by piece: GCC 12 warns (-Wrestrict, wrongly) about
  // the same string built with operator+ once it is inlined here.
  std::string who;
  if (c) {
    who.append(" ").append(c->address()).append(":").append(std::to_string(c->port()));
    if (auto name = c->name(); !name.empty()) who.append(" \"").append(name).append("\"");
  }
  std::fprintf(stderr, "socketengine: %s%s: %s (%s)\n", label_.c_str(), who.c_str(),
               ec.message().c_str(), detail.c_str());
}

} // namespace socketengine::detail
