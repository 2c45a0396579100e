#include "net/errors.h"

#include "auth/jwt.h"
#include "chat/errors.h"

namespace parley::net {

wire_error to_wire(std::error_code ec, context where) {
  if (ec.category() == auth::errc_category()) {
    if (ec == auth::errc::expired) return {"token_expired", 401, 4001};
    return {"unauthorized", 401, 4001};
  }
  if (ec.category() == chat::errc_category()) {
    switch (static_cast<chat::errc>(ec.value())) {
      case chat::errc::bad_request:
        return {"bad_request", 400, 0};
      case chat::errc::not_member:
        if (where == context::upgrade) return {"forbidden", 403, 0};
        if (where == context::api) return {"not_found", 404, 0};
        return {"not_member", 404, 0};
      case chat::errc::too_large:
        return {"too_large", 413, 0};
      case chat::errc::rate_limited:
        return {"rate_limited", 429, 0};
      case chat::errc::token_expired:
        return {"token_expired", 401, 4001};
      case chat::errc::unauthorized:
        return {"unauthorized", 401, 4001};
      case chat::errc::unavailable:
      case chat::errc::overloaded:
        return {"unavailable", 503, 0};
      case chat::errc::internal:
        return {"internal", 500, 0};
      case chat::errc::forbidden:
        return {"forbidden", 403, 0};
      case chat::errc::not_found:
        return {"not_found", 404, 0};
      case chat::errc::conflict:
        return {"conflict", 409, 0};
    }
  }
  return {"internal", 500, 0};
}

}  // namespace parley::net
