#pragma once
// What each scenario connects and who sends (see options.h for the knobs):
//   dm       connections/2 pairs of users, both ends joined to their direct room, both send
//   group    rooms of --members users created over HTTP; every member sends
//   fanout   --rooms rooms of --members users created over HTTP; --senders per room send
//   idle     authenticated connections without a room; nothing is sent
//   connect  --connections loops of connect, hello, close (no room)
// User ids are "bn<run>-<i>" with a random run id, so runs against the same database never
// meet an earlier run's rooms. Connection i goes to endpoint i % endpoints and binds source
// address 127.0.0.(1 + i % source_addrs).
#include <optional>
#include <string>
#include <vector>

#include "tools/bench/load_client.h"
#include "tools/bench/options.h"

namespace parley::tools::bench {

struct run_plan {
  std::string run_id;
  std::vector<conn_plan> conns;
  std::vector<std::string> rooms;
  int senders = 0;
};

// Builds the plan; creates group rooms over HTTP (POST /api/rooms, blocking, a few threads).
// nullopt with `*why` set when a room could not be created.
std::optional<run_plan> make_plan(const options& o, std::string* why);

}  // namespace parley::tools::bench
