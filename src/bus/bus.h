#pragma once
// The bus carries change records between nodes (protocol.md section 7). Records are
// notifications; the store stays the source of truth, so a lost or repeated record is
// repaired by the router (dedup by seq, gap fill from the store).
//
// Threads: publish() may be called from any thread and never blocks on the network.
// The subscriber is called on the bus's delivery thread(s); it must not block.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"

namespace parley::bus {

enum class errc { unavailable = 1, bad_record, closed };
PARLEY_ERRC_CATEGORY(parley::bus, errc)

enum class kind { message, read, typing, membership };

struct record {
  kind type = kind::message;
  std::string room;
  std::string node;  // the publishing node's id
  // kind::message
  std::int64_t seq = 0;
  std::string id;
  std::string from;
  std::string text;
  std::int64_t ts = 0;
  std::optional<std::string> cid;
  // kind::read / typing / membership: the user concerned; read: seq above
  std::string user;
  std::string op;  // membership: "add" | "remove"
  std::string by;  // membership: who made the change (extension; consumers may ignore it)
  // In-process only, never encoded: the connection a typing/read record came from, so
  // that it is not echoed back to that connection.
  std::string origin_session;
};
using record_ptr = std::shared_ptr<const record>;

// The `message` record of a stored message: any type with the store's message fields
// (room, seq, id, sender, text, ts, cid), moved from when given an rvalue.
template <class Message>
record message_record(Message&& m, std::string node) {
  record r;
  r.type = kind::message;
  r.room = std::forward<Message>(m).room;
  r.node = std::move(node);
  r.seq = m.seq;
  r.id = std::forward<Message>(m).id;
  r.from = std::forward<Message>(m).sender;
  r.text = std::forward<Message>(m).text;
  r.ts = m.ts;
  r.cid = std::forward<Message>(m).cid;
  return r;
}

// JSON encoding of a record exactly as protocol.md section 7 (the public contract).
std::string encode(const record& r);
// Parses a record; bad_record for anything that is not a valid v1 record.
result<record> decode(std::string_view json);

class bus {
 public:
  using subscriber = std::function<void(const record_ptr&)>;
  virtual ~bus() = default;
  // Set once, before start(). Receives every record: this node's own ones at publish time
  // (synchronously, on the publishing thread: local delivery never waits for the network)
  // and other nodes' ones as they arrive.
  virtual void set_subscriber(subscriber s) = 0;
  // Called on a bus thread when a published `message` record is durably on the bus (ok)
  // or was given up on (not ok). The outbox relay uses it; buses with nothing to confirm
  // (local_bus) never call it. Set before start().
  using delivery_callback = std::function<void(const record_ptr&, bool ok)>;
  virtual void set_delivery_callback(delivery_callback cb) {}
  virtual result<void> start() = 0;
  virtual void publish(record_ptr r) = 0;
  // For /readyz and /metrics: "up" / "down" / "local".
  virtual std::string state() const = 0;
  virtual void stop() = 0;
};

// In-process bus for the embedded default: publish() hands the record to the subscriber.
std::unique_ptr<bus> make_local_bus();

}  // namespace parley::bus

PARLEY_ERRC_TRAIT(parley::bus::errc)
