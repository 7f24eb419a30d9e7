// Users and their bearer tokens (only SHA-256 digests are stored).
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "services/store/pool.h"
#include "services/store/rows.h"
#include "services/store/store.h"

namespace nas {

namespace {

nas::v1::User UserFromRow(const pqxx::row& r) {
  nas::v1::User u;
  u.set_id(r[0].as<int64_t>());
  u.set_name(r[1].as<std::string>());
  u.set_admin(r[2].as<bool>());
  u.set_created_at(r[3].as<std::string>());
  return u;
}

}  // namespace

absl::StatusOr<int64_t> Store::CountUsers() {
  return pool_->Run("CountUsers", [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    return tx.exec1("SELECT count(*) FROM users")[0].as<int64_t>();
  });
}

absl::StatusOr<nas::v1::User> Store::CreateUser(const std::string& name, bool admin) {
  return pool_->Run("CreateUser", [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::User> {
    pqxx::result r = tx.exec_params(
        "INSERT INTO users (name, admin) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING "
        "RETURNING id, name, admin, rfc3339(created_at)",
        name, admin);
    if (r.empty()) {
      return absl::AlreadyExistsError(absl::StrCat("name: user \"", name, "\" already exists"));
    }
    return UserFromRow(r[0]);
  });
}

absl::StatusOr<std::vector<nas::v1::User>> Store::ListUsers() {
  return pool_->Run("ListUsers", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<nas::v1::User>> {
    std::vector<nas::v1::User> users;
    for (const pqxx::row& r :
         tx.exec("SELECT id, name, admin, rfc3339(created_at) FROM users ORDER BY id")) {
      users.push_back(UserFromRow(r));
    }
    return users;
  });
}

absl::StatusOr<nas::v1::User> Store::GetUserByName(const std::string& name) {
  return pool_->Run("GetUserByName", [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::User> {
    pqxx::result r = tx.exec_params(
        "SELECT id, name, admin, rfc3339(created_at) FROM users WHERE name = $1", name);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("user \"", name, "\" not found"));
    return UserFromRow(r[0]);
  });
}

absl::StatusOr<int64_t> Store::AddToken(int64_t user_id, const std::string& token_sha256,
                                        const std::string& label) {
  return pool_->Run("AddToken", [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    return tx
        .exec_params1(
            "INSERT INTO tokens (user_id, token_sha256, label) VALUES ($1, $2, $3) RETURNING id",
            user_id, token_sha256, label)[0]
        .as<int64_t>();
  });
}

absl::Status Store::RevokeToken(const Caller& caller, int64_t token_id) {
  return pool_->Run("RevokeToken", [&](pqxx::work& tx) -> absl::Status {
    pqxx::result r = tx.exec_params(
        "UPDATE tokens SET revoked_at = COALESCE(revoked_at, now()) "
        "WHERE id = $1 AND (user_id = $2 OR $3) RETURNING id",
        token_id, caller.user_id, caller.admin);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("token ", token_id, " not found"));
    return absl::OkStatus();
  });
}

absl::StatusOr<Caller> Store::Authenticate(const std::string& token_sha256) {
  return pool_->Run("Authenticate", [&](pqxx::work& tx) -> absl::StatusOr<Caller> {
    pqxx::result r = tx.exec_params(
        "SELECT u.id, u.name, u.admin FROM tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL",
        token_sha256);
    if (r.empty()) return absl::UnauthenticatedError("the bearer token is unknown or revoked");
    return Caller{r[0][0].as<int64_t>(), r[0][1].as<std::string>(), r[0][2].as<bool>()};
  });
}

}  // namespace nas
