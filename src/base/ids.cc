#include "base/ids.h"

#include <array>
#include <cstdint>
#include <random>

namespace parley::ids {
namespace {

bool user_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == '@';
}

std::uint64_t random64() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen();
}

}  // namespace

bool valid_user(std::string_view s) noexcept {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (!user_char(c)) return false;
  return true;
}

bool valid_group_room(std::string_view s) noexcept {
  if (s.size() < 3 || s.size() > 66 || s.substr(0, 2) != "g:") return false;
  for (char c : s.substr(2)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool is_direct(std::string_view room) noexcept { return room.substr(0, 3) == "dm:"; }

bool valid_direct_room(std::string_view s) noexcept {
  if (!is_direct(s)) return false;
  auto rest = s.substr(3);
  auto colon = rest.find(':');
  if (colon == std::string_view::npos) return false;
  auto a = rest.substr(0, colon), b = rest.substr(colon + 1);
  return valid_user(a) && valid_user(b) && a <= b;
}

bool valid_room(std::string_view s) noexcept { return valid_group_room(s) || valid_direct_room(s); }

std::string direct_room(std::string_view a, std::string_view b) {
  if (b < a) std::swap(a, b);
  std::string r = "dm:";
  r.append(a).append(":").append(b);
  return r;
}

std::pair<std::string, std::string> direct_members(std::string_view room) {
  auto rest = room.substr(3);
  auto colon = rest.find(':');
  return {std::string(rest.substr(0, colon)), std::string(rest.substr(colon + 1))};
}

bool valid_cid(std::string_view s) noexcept {
  return !s.empty() && s.size() <= 64 && s.find('\0') == std::string_view::npos;
}
bool valid_text(std::string_view s) noexcept { return s.find('\0') == std::string_view::npos; }
bool valid_rid(std::string_view s) noexcept { return s.size() <= 64; }

std::string new_group_id() {
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string id = "g:";
  for (int i = 0; i < 20; ++i) id += alphabet[random64() % 36];
  return id;
}

std::string new_message_id(std::int64_t ts_ms) {
  // Crockford base32: 10 characters of timestamp, 16 of randomness.
  static constexpr char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::string id(26, '0');
  auto t = static_cast<std::uint64_t>(ts_ms);
  for (int i = 9; i >= 0; --i) {
    id[i] = b32[t & 31];
    t >>= 5;
  }
  std::uint64_t r1 = random64(), r2 = random64();
  for (int i = 10; i < 26; ++i) {
    std::uint64_t& r = i < 18 ? r1 : r2;
    id[i] = b32[r & 31];
    r >>= 5;
  }
  return id;
}

std::string new_session_id() {
  static constexpr char hex[] = "0123456789abcdef";
  std::uint64_t r = random64();
  std::string id(16, '0');
  for (int i = 0; i < 16; ++i) {
    id[i] = hex[r & 15];
    r >>= 4;
  }
  return id;
}

}  // namespace parley::ids
