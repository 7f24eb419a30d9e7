// The store's connection pool and health probe (services/store/pool.h).
#include "services/store/pool.h"

#include "absl/strings/ascii.h"

namespace nas {

void ApplySessionSettings(pqxx::connection& c, absl::Duration statement_timeout) {
  pqxx::nontransaction n(c);
  n.exec(absl::StrCat("SET statement_timeout = ", absl::ToInt64Milliseconds(statement_timeout)));
  n.exec(absl::StrCat("SET idle_in_transaction_session_timeout = ",
                      absl::ToInt64Milliseconds(statement_timeout) * 2));
}

absl::Status HealthProbe::Check(absl::Duration deadline) {
  absl::MutexLock lock(&mu_);
  try {
    if (conn_ == nullptr || !conn_->is_open()) {
      conn_.reset();
      auto c = std::make_unique<pqxx::connection>(url_);
      ApplySessionSettings(*c, deadline);
      conn_ = std::move(c);
    }
    pqxx::work tx(*conn_);
    tx.exec("SELECT 1");
    tx.commit();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    conn_.reset();
    return absl::UnavailableError(absl::StrCat("store: a trivial transaction failed: ",
                                               absl::StripTrailingAsciiWhitespace(e.what())));
  }
}

}  // namespace nas
