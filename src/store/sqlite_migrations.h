#pragma once
// The SQLite schema as an ordered list of migrations, and the code that applies them.
#include <span>
#include <string>

#include "store/migration.h"
#include "store/sqlite_db.h"

namespace parley::store::sqlite {

// Every migration this build knows, in version order.
std::span<const migration> migrations() noexcept;
// The version of the last one.
int latest_version() noexcept;

// Brings the database to latest_version(): each pending step in one BEGIN IMMEDIATE
// transaction (so concurrent openers apply it once). invalid (with `why`) if the database
// is at a newer version than this build knows; otherwise the failing step's error.
result<void> migrate(db& conn, std::string& why);

// The version recorded in the database (0 for a new one).
result<int> current_version(db& conn);

}  // namespace parley::store::sqlite
