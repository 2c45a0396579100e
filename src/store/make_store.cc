// make_store(): picks the backend named by the url (backend-neutral dispatch).
#include <spdlog/spdlog.h>

#include <string_view>

#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"

namespace parley::store {

result<std::unique_ptr<store>> make_store(const options& opts, std::string& why) {
  std::string_view url = opts.url;
  if (url.starts_with("sqlite:")) {
    std::string_view path = url.substr(7);
    if (path.starts_with("//")) path.remove_prefix(2);  // sqlite:///abs/path
    if (path.empty()) {
      why = "store url 'sqlite:' needs a file path (sqlite:PATH)";
      return make_error_code(errc::invalid);
    }
    if (path == ":memory:" || path.starts_with("file:")) {
      why = "store url: in-memory and URI databases are not supported; use sqlite:PATH";
      return make_error_code(errc::invalid);
    }
    return sqlite_store::open(std::string(path), opts, why);
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    // A libpq connection URI; `?options=-csearch_path%3Dmy_schema` picks (and creates) the
    // schema. Messages name user, host, port and database only, never the password.
    return postgres_store::open(opts, why);
  }
  // Never echo the whole url: it may hold credentials.
  auto colon = url.find(':');
  why = "store url: unknown scheme '" +
        std::string(colon == std::string_view::npos ? std::string_view{} : url.substr(0, colon)) +
        "'; expected sqlite:PATH or postgresql://...";
  return make_error_code(errc::invalid);
}

result<std::unique_ptr<store>> make_store(const options& opts) {
  std::string why;
  auto r = make_store(opts, why);
  if (!r) spdlog::error("store: {}", why);
  return r;
}

}  // namespace parley::store
