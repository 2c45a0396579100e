#pragma once
// Paging and clamping rules shared by every backend, so that history(), page_after(), range(),
// snapshot_for_join() and set_read() mean the same thing on SQLite and PostgreSQL.
//
// Backends fetch one row more than the (clamped) limit; finish_* turn those rows into a
// page whose `more` flag says whether rows remain beyond it. Pure functions, any thread.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "store/store.h"

namespace parley::store {

// The largest page any call returns; larger limits are clamped to it, negative ones to 0
// (an empty page whose `more` says whether any message lies in that direction).
inline constexpr int k_max_page = 1000;

inline int clamp_limit(int limit) noexcept { return std::clamp(limit, 0, k_max_page); }

// history(): messages with seq < bound; an empty `before` means "the newest".
inline std::int64_t history_bound(std::optional<std::int64_t> before) noexcept {
  return before.value_or(std::numeric_limits<std::int64_t>::max());
}

// snapshot_for_join(since): S clamped to [0, last_seq].
inline std::int64_t clamp_since(std::int64_t since, std::int64_t last_seq) noexcept {
  return std::clamp<std::int64_t>(since, 0, std::max<std::int64_t>(last_seq, 0));
}

// range(): seq starts at 1.
inline std::int64_t clamp_range_first(std::int64_t first) noexcept {
  return std::max<std::int64_t>(first, 1);
}

// Rows fetched newest first (at most limit + 1): the page, oldest first.
inline page finish_page_desc(std::vector<message> rows, int limit) {
  page p;
  p.more = rows.size() > static_cast<std::size_t>(limit);
  if (p.more) rows.resize(static_cast<std::size_t>(limit));
  std::reverse(rows.begin(), rows.end());
  p.messages = std::move(rows);
  return p;
}

// Rows fetched oldest first (at most limit + 1): the page.
inline page finish_page_asc(std::vector<message> rows, int limit) {
  page p;
  p.more = rows.size() > static_cast<std::size_t>(limit);
  if (p.more) rows.resize(static_cast<std::size_t>(limit));
  p.messages = std::move(rows);
  return p;
}

}  // namespace parley::store
