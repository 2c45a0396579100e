#pragma once
// The backends the store contract suite runs against (one entry each in all_backends()),
// and helpers for the PostgreSQL tests.
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "store/store.h"

namespace parley::store::testing {

struct backend {
  std::string name;
  // Options naming a fresh, empty database for `tag` (unique per test); calling make_store
  // twice with them opens the same database (persistence tests).
  std::function<options(const std::string& tag)> fresh;
  // Removes what fresh() created.
  std::function<void(const options&)> cleanup;
  // Non-empty: why this backend's cases are skipped here (e.g. no PostgreSQL server).
  std::function<std::string()> skip_reason = [] { return std::string(); };
};

std::vector<backend> all_backends();

// gtest prints a parameter with this (test names in ctest stay readable).
inline void PrintTo(const backend& b, std::ostream* os) { *os << b.name; }

// A fresh temporary directory for one test (removed by the caller).
std::string temp_dir(const std::string& tag);

// ---- PostgreSQL --------------------------------------------------------------------------

// The server the tests use: env PARLEY_TEST_PG, default
// postgresql://postgres@127.0.0.1:5432/test.
std::string pg_base_url();
// Empty when a server answers at pg_base_url() (probed once), else a reason to skip.
std::string pg_skip_reason();
// A new schema name, unique per process and call ("parley_t_<pid>_<n>_<random>").
std::string pg_new_schema(const std::string& tag);
// `url` with the search_path set to `schema` (libpq's options parameter).
std::string pg_url_with_schema(const std::string& url, const std::string& schema);
// Runs `sql` on a new connection to `url` (default: pg_base_url()); the rows as text
// (NULL as ""), or nullopt with `err` set.
std::optional<std::vector<std::vector<std::string>>> pg_query(const std::string& sql,
                                                              std::string* err = nullptr,
                                                              const std::string& url = {});
// Drops the schema and everything in it (ignores errors).
void pg_drop_schema(const std::string& schema);

}  // namespace parley::store::testing
