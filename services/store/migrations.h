// The store's schema, as an ordered list of migrations.
//
// Versions are forever: never edit an applied migration, append a new one. ApplyMigrations()
// (store.h) runs the pending ones under a PostgreSQL advisory lock, so several controllers may
// start at once against one database.
#ifndef NAS_SERVICES_STORE_MIGRATIONS_H_
#define NAS_SERVICES_STORE_MIGRATIONS_H_

#include <vector>

namespace nas {

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Migrations() returns every migration, by ascending version.
const std::vector<Migration>& Migrations();

}  // namespace nas

#endif  // NAS_SERVICES_STORE_MIGRATIONS_H_
