// Backend-neutral defaults of the store interface (store.h).
#include "store/store.h"

namespace parley::store {

result<std::unordered_map<std::string, std::vector<std::string>>> store::members_of(
    const std::vector<std::string>& room_ids) {
  std::unordered_map<std::string, std::vector<std::string>> out;
  out.reserve(room_ids.size());
  for (const auto& id : room_ids) {
    auto m = members(id);
    if (m) {
      out.insert_or_assign(id, std::move(m).value());
    } else if (m.error() != make_error_code(errc::not_found)) {
      return m.error();
    }
  }
  return out;
}

}  // namespace parley::store
