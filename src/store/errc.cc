// The "parley.store" error category (backend-neutral).
#include <string>

#include "store/store.h"

namespace parley::store {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "parley.store"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::unavailable:
        return "store unavailable";
      case errc::not_found:
        return "not found";
      case errc::conflict:
        return "already exists";
      case errc::invalid:
        return "invalid request";
      case errc::closed:
        return "store closed";
      case errc::internal:
        return "internal store error";
    }
    return "unknown store error";
  }
};

}  // namespace

const std::error_category& errc_category() noexcept {
  static const category c;
  return c;
}

}  // namespace parley::store
