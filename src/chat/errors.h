#pragma once
// chat::errc: the protocol-level failures of protocol.md's error table (plus the HTTP-only
// ones). net translates them to wire codes, close codes and HTTP statuses in one place
// (src/net/errors.cc).
#include "base/result.h"

namespace parley::chat {

enum class errc {
  bad_request = 1,
  not_member,     // may not see the room (not a member, or no such room)
  too_large,      // text over max_text_bytes
  rate_limited,   // bucket exhausted: nothing stored
  token_expired,  // closes with 4001
  unauthorized,   // closes with 4001 (auth refresh failed)
  unavailable,    // storage down: nothing stored
  internal,
  forbidden,   // HTTP: allowed to see the room, not to do this (e.g. remove another member)
  not_found,   // HTTP: no such route/resource
  conflict,    // HTTP: already exists / room full
  overloaded,  // the store pool's queue is full: nothing was done (wire: `unavailable`)
  flooded,     // a connection answered with too many errors in a row: net closes it (1008)
};
PARLEY_ERRC_CATEGORY(parley::chat, errc)

// Maps a store error to what a client may be told: unavailable stays unavailable,
// not_found becomes not_member (indistinguishable by design), the rest internal.
std::error_code from_store(std::error_code ec);

}  // namespace parley::chat

PARLEY_ERRC_TRAIT(parley::chat::errc)
