#pragma once
// The backends the store contract suite runs against. Adding a backend (PostgreSQL) is one
// entry in all_backends().
#include <functional>
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
};

std::vector<backend> all_backends();

// A fresh temporary directory for one test (removed by the caller).
std::string temp_dir(const std::string& tag);

}  // namespace parley::store::testing
