#include "chat/errors.h"

#include "store/store.h"

namespace parley::chat {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "parley.chat"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::bad_request:
        return "bad request";
      case errc::not_member:
        return "not a member of this room";
      case errc::too_large:
        return "text too large";
      case errc::rate_limited:
        return "rate limited";
      case errc::token_expired:
        return "token expired";
      case errc::unauthorized:
        return "unauthorized";
      case errc::unavailable:
        return "storage unavailable, retry later";
      case errc::internal:
        return "internal error";
      case errc::forbidden:
        return "forbidden";
      case errc::not_found:
        return "not found";
      case errc::conflict:
        return "conflict";
      case errc::overloaded:
        return "server busy: too many requests waiting for the store, retry later";
      case errc::flooded:
        return "too many errors";
    }
    return "unknown chat error";
  }
};

}  // namespace

const std::error_category& errc_category() noexcept {
  static const category c;
  return c;
}

std::error_code from_store(std::error_code ec) {
  if (ec.category() != store::errc_category()) return ec;
  switch (static_cast<store::errc>(ec.value())) {
    case store::errc::unavailable:
    case store::errc::closed:
      return errc::unavailable;
    case store::errc::not_found:
      return errc::not_member;
    case store::errc::conflict:
      return errc::conflict;
    case store::errc::invalid:
      return errc::bad_request;
    default:
      return errc::internal;
  }
}

}  // namespace parley::chat
