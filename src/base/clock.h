#pragma once
// Wall-clock milliseconds (Unix epoch). Message `ts`, token expiry and `server_time` use it.
#include <chrono>
#include <cstdint>

namespace parley {

inline std::int64_t now_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace parley
