#include "store/store_test_backends.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>

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

std::string pg_base_url() {
  const char* env = std::getenv("PARLEY_TEST_PG");
  return env && *env ? env : "postgresql://postgres@127.0.0.1:5432/test";
}

std::optional<std::vector<std::vector<std::string>>> pg_query(const std::string& sql,
                                                              std::string* err,
                                                              const std::string& url) {
  std::string target = url.empty() ? pg_base_url() : url;
  const char* keys[] = {"connect_timeout", "dbname", nullptr};
  const char* vals[] = {"3", target.c_str(), nullptr};
  std::unique_ptr<PGconn, void (*)(PGconn*)> c(PQconnectdbParams(keys, vals, 1), PQfinish);
  if (!c || PQstatus(c.get()) != CONNECTION_OK) {
    if (err) *err = c ? PQerrorMessage(c.get()) : "out of memory";
    return std::nullopt;
  }
  PQsetNoticeProcessor(
      c.get(), [](void*, const char*) {}, nullptr);
  std::unique_ptr<PGresult, void (*)(PGresult*)> r(PQexec(c.get(), sql.c_str()), PQclear);
  auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    if (err) *err = PQerrorMessage(c.get());
    return std::nullopt;
  }
  std::vector<std::vector<std::string>> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    std::vector<std::string> row;
    for (int j = 0; j < PQnfields(r.get()); ++j) row.emplace_back(PQgetvalue(r.get(), i, j));
    out.push_back(std::move(row));
  }
  return out;
}

std::string pg_skip_reason() {
  static std::once_flag once;
  static std::string reason;
  std::call_once(once, [] {
    std::string err;
    if (!pg_query("SELECT 1", &err)) {
      while (!err.empty() && err.back() == '\n') err.pop_back();
      reason = "no PostgreSQL answers at PARLEY_TEST_PG (" + pg_base_url() +
               "): run scripts/ensure-postgres. (" + err + ")";
    }
  });
  return reason;
}

std::string pg_new_schema(const std::string& tag) {
  static std::atomic<int> counter{0};
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex mu;
  std::uint64_t r;
  {
    std::lock_guard lk(mu);
    r = rng();
  }
  std::string clean;
  for (char ch : tag) {
    if (clean.size() >= 20) break;
    clean += std::isalnum(static_cast<unsigned char>(ch))
                 ? static_cast<char>(std::tolower(static_cast<unsigned char>(ch)))
                 : '_';
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r));
  return "parley_t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
         std::string(hex, 8) + "_" + clean;
}

std::string pg_url_with_schema(const std::string& url, const std::string& schema) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
         schema;
}

void pg_drop_schema(const std::string& schema) {
  (void)pg_query("DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
}

namespace {

// The schema a url made by pg_url_with_schema() names.
std::string schema_of(const std::string& url) {
  auto at = url.rfind("search_path%3D");
  if (at == std::string::npos) return {};
  auto s = url.substr(at + 14);
  auto amp = s.find('&');
  return amp == std::string::npos ? s : s.substr(0, amp);
}

}  // namespace

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
  // PostgreSQL: each test gets a schema of its own (created by the store, dropped after).
  out.push_back(backend{"postgres",
                        [](const std::string& tag) {
                          options o;
                          o.url = pg_url_with_schema(pg_base_url(), pg_new_schema(tag));
                          o.readers = 3;
                          o.max_batch = 64;
                          return o;
                        },
                        [](const options& o) {
                          auto schema = schema_of(o.url);
                          if (!schema.empty()) pg_drop_schema(schema);
                        },
                        [] { return pg_skip_reason(); }});
  return out;
}

}  // namespace parley::store::testing
