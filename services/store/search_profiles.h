// SearchProfileCache: the hardware profile versions each search targets, with their database
// ids. Internal to services/store.
#ifndef NAS_SERVICES_STORE_SEARCH_PROFILES_H_
#define NAS_SERVICES_STORE_SEARCH_PROFILES_H_

#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "proto/nas.pb.h"
#include "services/store/rows.h"

namespace nas {

// A profile of a search: its database id and its message.
struct SearchProfile {
  int64_t db_id;
  nas::v1::HardwareProfile profile;
};

// SearchProfileCache: the profile versions each search targets. A search's profiles and a
// profile version are both immutable, so an entry never goes stale; the cache only saves a
// query on every lease and report.
class SearchProfileCache {
 public:
  std::shared_ptr<const std::vector<SearchProfile>> Get(pqxx::work& tx, int64_t search_id) {
    {
      absl::MutexLock lock(&mu_);
      auto it = map_.find(search_id);
      if (it != map_.end()) return it->second;
    }
    auto profiles = std::make_shared<std::vector<SearchProfile>>();
    for (const pqxx::row& r :
         tx.exec_params("SELECT hp.id, hp.spec, hp.name, hp.version FROM search_profiles sp "
                        "JOIN hardware_profiles hp ON hp.id = sp.profile_id "
                        "WHERE sp.search_id = $1 ORDER BY sp.position",
                        search_id)) {
      nas::v1::HardwareProfile p = Parse<nas::v1::HardwareProfile>(r[1]);
      p.set_name(r[2].as<std::string>());
      p.set_version(r[3].as<int>());
      p.set_id(ProfileId(p.name(), p.version()));
      profiles->push_back({r[0].as<int64_t>(), std::move(p)});
    }
    // A search that is not committed yet has no rows; do not remember that.
    if (profiles->empty()) return profiles;
    absl::MutexLock lock(&mu_);
    if (map_.size() >= kMaxEntries) map_.clear();
    map_[search_id] = profiles;
    return profiles;
  }

 private:
  static constexpr size_t kMaxEntries = 10000;
  absl::Mutex mu_;
  std::map<int64_t, std::shared_ptr<const std::vector<SearchProfile>>> map_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nas

#endif  // NAS_SERVICES_STORE_SEARCH_PROFILES_H_
