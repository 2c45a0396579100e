#pragma once
// result<T>: the value-or-error type used on every data path (no exceptions there).
// Each module defines its own `enum class errc` and registers it with PARLEY_ERRC_CATEGORY
// and PARLEY_ERRC_TRAIT so that it converts implicitly to std::error_code; `net` translates
// error codes to wire codes in exactly one place (src/net/errors.cc).
#include <boost/outcome/result.hpp>
#include <boost/outcome/try.hpp>
#include <string>
#include <system_error>

namespace parley {

namespace outcome = boost::outcome_v2;

template <class T>
using result = outcome::result<T, std::error_code, outcome::policy::terminate>;

using outcome::failure;
using outcome::success;

}  // namespace parley

// Declares `make_error_code(errc)` and the std::is_error_code_enum specialisation for a
// module's errc. Use at namespace scope of the module, then specialise the trait outside.
#define PARLEY_ERRC_CATEGORY(ns, errc_type)                      \
  const std::error_category& errc_type##_category() noexcept;    \
  inline std::error_code make_error_code(errc_type e) noexcept { \
    return {static_cast<int>(e), errc_type##_category()};        \
  }

#define PARLEY_ERRC_TRAIT(qualified) \
  template <>                        \
  struct std::is_error_code_enum<qualified> : std::true_type {};
