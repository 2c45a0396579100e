#include "net/errors.h"

#include "auth/jwt.h"
#include "chat/errors.h"
#include "ws/codec.h"

namespace parley::net {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "parley.net"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::method_not_allowed:
        return "method not allowed";
      case errc::version_required:
        return "WebSocket version 13 required";
      case errc::shutting_down:
        return "server shutting down";
      case errc::slow_consumer:
        return "slow consumer: send queue overflow";
      case errc::idle_timeout:
        return "idle timeout";
      case errc::invalid_utf8:
        return "invalid utf-8";
      case errc::internal:
        return "internal error";
    }
    return "unknown network error";
  }
};

constexpr wire_error k_internal{"internal", 500};

wire_error net_wire(errc e) {
  switch (e) {
    case errc::method_not_allowed:
      return {"bad_request", 405};
    case errc::version_required:
      return {"bad_request", 426};
    case errc::shutting_down:
      return {"unavailable", 503, ws::close_code::going_away, "server shutting down"};
    case errc::slow_consumer:
      return {"unavailable", 503, ws::close_code::policy, "slow consumer: send queue overflow"};
    case errc::idle_timeout:
      return {"unavailable", 503, close_code::idle, "idle timeout"};
    case errc::invalid_utf8:
      return {"bad_request", 400, ws::close_code::invalid_data, "invalid utf-8"};
    case errc::internal:
      return {"internal", 500, ws::close_code::internal, "internal error"};
  }
  return k_internal;
}

wire_error chat_wire(chat::errc e, context where) {
  switch (e) {
    case chat::errc::bad_request:
      return {"bad_request", 400};
    case chat::errc::not_member:
      if (where == context::upgrade) return {"forbidden", 403};
      if (where == context::api) return {"not_found", 404};
      return {"not_member", 404};
    case chat::errc::too_large:
      return {"too_large", 413};
    case chat::errc::rate_limited:
      return {"rate_limited", 429};
    case chat::errc::flooded:
      return {"rate_limited", 429, ws::close_code::policy, "too many errors"};
    case chat::errc::token_expired:
      if (where != context::frame) return {"unauthorized", 401};
      return {"token_expired", 401, close_code::unauthorized, "token_expired"};
    case chat::errc::unauthorized:
      if (where != context::frame) return {"unauthorized", 401};
      return {"unauthorized", 401, close_code::unauthorized, "unauthorized"};
    case chat::errc::unavailable:
    case chat::errc::overloaded:
      return {"unavailable", 503};
    case chat::errc::internal:
      return k_internal;
    case chat::errc::forbidden:
      return {"forbidden", 403};
    case chat::errc::not_found:
      return {"not_found", 404};
    case chat::errc::conflict:
      return {"conflict", 409};
  }
  return k_internal;
}

}  // namespace

const std::error_category& errc_category() noexcept {
  static const category c;
  return c;
}

wire_error to_wire(std::error_code ec, context where) {
  if (ec.category() == errc_category()) return net_wire(static_cast<errc>(ec.value()));
  if (ec.category() == chat::errc_category())
    return chat_wire(static_cast<chat::errc>(ec.value()), where);
  if (ec.category() == auth::errc_category()) {
    // A token refused: in a frame (a refresh), an expired one says so; at the door, always
    // `unauthorized` (protocol.md section 1).
    return chat_wire(
        ec == auth::errc::expired ? chat::errc::token_expired : chat::errc::unauthorized, where);
  }
  // bus::errc and anything else: `internal`. The bus never fails a client's request (a lost
  // publish is the outbox relay's to repair).
  return k_internal;
}

}  // namespace parley::net
