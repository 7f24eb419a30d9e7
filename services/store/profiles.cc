// Hardware profiles: the built-in ones seeded at start, registered ones, versions, visibility.
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "search/builtin_profiles.h"
#include "services/store/pool.h"
#include "services/store/rows.h"
#include "services/store/store.h"

namespace nas {

absl::Status Store::SeedBuiltinProfiles() {
  for (const HardwareProfile& p : BuiltinProfiles()) {
    absl::Status st = pool_->Run("SeedBuiltinProfiles", [&](pqxx::work& tx) -> absl::Status {
      tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", p.name());
      if (!tx.exec_params("SELECT 1 FROM hardware_profiles WHERE name = $1", p.name()).empty()) {
        return absl::OkStatus();
      }
      HardwareProfile stored = p;
      stored.set_visibility(nas::v1::VISIBILITY_PUBLIC);
      tx.exec_params(
          "INSERT INTO hardware_profiles (name, version, owner_id, public, spec) "
          "VALUES ($1, 1, NULL, true, $2)",
          p.name(), Bin(stored));
      return absl::OkStatus();
    });
    NAS_RETURN_IF_ERROR(st);
  }
  return absl::OkStatus();
}

absl::StatusOr<HardwareProfile> Store::RegisterProfile(const Caller& caller,
                                                       HardwareProfile profile, bool builtin) {
  const bool make_public = builtin || profile.visibility() == nas::v1::VISIBILITY_PUBLIC;
  if (make_public && !builtin && !caller.admin) {
    return absl::PermissionDeniedError(
        "profile.visibility: only administrators may register public profiles");
  }
  return pool_->Run("RegisterProfile", [&](pqxx::work& tx) -> absl::StatusOr<HardwareProfile> {
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", profile.name());
    // Names are unique per owner: the public profiles (built in or registered public by an
    // administrator) share one namespace, every user has a private one. A public name is
    // taken for everyone; another user's private name is invisible and free.
    pqxx::row latest = tx.exec_params1(
        "SELECT COALESCE(max(version) FILTER (WHERE owner_id IS NULL OR public), 0), "
        "  COALESCE(max(version) FILTER (WHERE owner_id = $2 AND NOT public), 0) "
        "FROM hardware_profiles WHERE name = $1",
        profile.name(), caller.user_id);
    const int public_version = latest[0].as<int>();
    const int own_version = latest[1].as<int>();
    int version = own_version + 1;
    if (make_public || public_version > 0) {
      if (public_version > 0 && !builtin && !caller.admin) {
        return absl::AlreadyExistsError(
            absl::StrCat("profile.name: \"", profile.name(),
                         "\" is the name of a public profile; choose another"));
      }
      if (make_public && own_version > 0) {
        return absl::AlreadyExistsError(
            absl::StrCat("profile.name: \"", profile.name(),
                         "\" names a private profile of yours; a public one needs another name"));
      }
      version = public_version + 1;
    }
    profile.clear_id();
    profile.clear_version();
    profile.clear_owner();
    profile.clear_created_at();
    profile.set_visibility(make_public ? nas::v1::VISIBILITY_PUBLIC : nas::v1::VISIBILITY_PRIVATE);
    pqxx::row r = tx.exec_params1(
        "INSERT INTO hardware_profiles (name, version, owner_id, public, spec) "
        "VALUES ($1, $2, NULLIF($3, 0), $4, $5) RETURNING rfc3339(created_at)",
        profile.name(), version, builtin ? int64_t{0} : caller.user_id, make_public, Bin(profile));
    profile.set_version(version);
    profile.set_id(ProfileId(profile.name(), version));
    profile.set_owner(builtin ? "" : caller.name);
    profile.set_created_at(r[0].as<std::string>());
    return profile;
  });
}

absl::StatusOr<HardwareProfile> Store::GetProfile(const Caller& caller,
                                                  const std::string& profile_id) {
  return pool_->Run("GetProfile", [&](pqxx::work& tx) -> absl::StatusOr<HardwareProfile> {
    NAS_ASSIGN_OR_RETURN(auto resolved, ResolveProfile(tx, caller, profile_id));
    return resolved.second;
  });
}

absl::StatusOr<std::vector<HardwareProfile>> Store::ListProfiles(const Caller& caller) {
  return pool_->Run(
      "ListProfiles", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<HardwareProfile>> {
        std::vector<HardwareProfile> out;
        for (const pqxx::row& r : tx.exec_params(
                 absl::StrCat("SELECT DISTINCT ON (hp.name, hp.public OR hp.owner_id IS NULL) ",
                              kProfileColumns, "WHERE ", kVisibleToCaller,
                              " ORDER BY hp.name, hp.public OR hp.owner_id IS NULL, "
                              "hp.version DESC"),
                 caller.user_id)) {
          out.push_back(ProfileFromRow(r));
        }
        return out;
      });
}

}  // namespace nas
