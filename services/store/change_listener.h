// ChangeListener: wakes this controller when any controller on the database changed what a
// waiting call cares about (work queued, results stored, leases expired, a search ended), by
// PostgreSQL's LISTEN/NOTIFY on channel `nas_changes`, on a connection of its own. Without it
// a long poll (LeaseWork, WatchSearch) on one controller learns of another's changes only at
// its next poll (up to a second later); the poll stays, as the fallback when the listener's
// connection is down.
//
//   ChangeListener listener(url, [&] { scheduler.NotifyChange(); });  // starts listening
//   // ... in a store transaction: NotifyChange(tx); delivered to every listener at commit
//
// Its thread reconnects after an outage (and then calls on_change once: whatever it missed).
#ifndef NAS_SERVICES_STORE_CHANGE_LISTENER_H_
#define NAS_SERVICES_STORE_CHANGE_LISTENER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace nas {

class ChangeListener {
 public:
  ChangeListener(std::string database_url, std::function<void()> on_change);
  ~ChangeListener();  // Stops listening (within half a second).

  ChangeListener(const ChangeListener&) = delete;
  ChangeListener& operator=(const ChangeListener&) = delete;

  // Notifications received and connections made so far (for tests and the log).
  int64_t received();
  int64_t connections();

 private:
  void Loop();
  bool Stopping();

  const std::string database_url_;
  const std::function<void()> on_change_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t received_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t connections_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace nas

#endif  // NAS_SERVICES_STORE_CHANGE_LISTENER_H_
