#include "store/store_test_backends.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

namespace parley::store::testing {

std::string temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  std::string name = tag;
  for (auto& c : name)
    if (c == '/') c = '_';
  auto dir =
      std::filesystem::temp_directory_path() /
      ("parley-store-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

std::vector<backend> all_backends() {
  std::vector<backend> out;
  out.push_back(backend{"sqlite",
                        [](const std::string& tag) {
                          options o;
                          o.url = "sqlite:" + temp_dir(tag) +
                                  "/db/parley.sqlite";  // the db dir does not exist
                          o.readers = 3;
                          o.max_batch = 64;
                          return o;
                        },
                        [](const options& o) {
                          auto path = std::filesystem::path(o.url.substr(7));
                          std::error_code ec;
                          std::filesystem::remove_all(path.parent_path().parent_path(), ec);
                        }});
  // PostgreSQL: out.push_back(backend{"postgres", ...}) when its backend is built.
  return out;
}

}  // namespace parley::store::testing
