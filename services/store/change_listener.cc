#include "services/store/change_listener.h"

#include <pqxx/pqxx>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "services/store/rows.h"

namespace nas {
namespace {

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, int* count)
      : pqxx::notification_receiver(c, kChangeChannel), count_(count) {}
  void operator()(const std::string& /*payload*/, int /*backend_pid*/) override { ++*count_; }

 private:
  int* count_;
};

}  // namespace

ChangeListener::ChangeListener(std::string database_url, std::function<void()> on_change)
    : database_url_(std::move(database_url)), on_change_(std::move(on_change)) {
  thread_ = std::thread([this] { Loop(); });
}

ChangeListener::~ChangeListener() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool ChangeListener::Stopping() {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

int64_t ChangeListener::received() {
  absl::MutexLock lock(&mu_);
  return received_;
}

int64_t ChangeListener::connections() {
  absl::MutexLock lock(&mu_);
  return connections_;
}

void ChangeListener::Loop() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (!Stopping()) {
    try {
      pqxx::connection c(database_url_);
      int count = 0;
      Receiver receiver(c, &count);
      {
        absl::MutexLock lock(&mu_);
        ++connections_;
      }
      backoff = absl::Milliseconds(100);
      // Whatever changed while this controller was not listening.
      on_change_();
      while (!Stopping()) {
        // Several notifications that arrived together wake the waiting calls once.
        if (c.await_notification(0, 500000) > 0 && count > 0) {
          {
            absl::MutexLock lock(&mu_);
            received_ += count;
          }
          count = 0;
          on_change_();
        }
      }
    } catch (const std::exception& e) {
      LOG(WARNING) << "event=change_listener_lost error=\"" << absl::CHexEscape(e.what())
                   << "\" retry_ms=" << absl::ToInt64Milliseconds(backoff);
      // Sleeps in small steps, so that stopping is not held up.
      for (absl::Time until = absl::Now() + backoff; absl::Now() < until && !Stopping();) {
        absl::SleepFor(absl::Milliseconds(50));
      }
      backoff = std::min(2 * backoff, absl::Seconds(2));
    }
  }
}

}  // namespace nas
