// parley token: print an HS256 JWT (auth::mint_hs256) for dev servers and scripts.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "auth/jwt.h"
#include "tools/commands.h"
#include "tools/common.h"

namespace parley::tools {
namespace {

struct token_options {
  std::string secret;
  std::string user;
  std::int64_t ttl = 3600;
  std::string issuer;
  std::string audience;
};

int run_token(const token_options& o) {
  if (o.secret.empty()) return usage_error("token", "--secret must not be empty");
  if (o.user.empty()) return usage_error("token", "--user must not be empty");
  std::optional<std::string_view> iss, aud;
  if (!o.issuer.empty()) iss = o.issuer;
  if (!o.audience.empty()) aud = o.audience;
  std::cout << auth::mint_hs256(o.secret, o.user, now_seconds() + o.ttl, iss, aud) << "\n";
  return k_exit_ok;
}

}  // namespace

command add_token_command(CLI::App& app) {
  auto opts = std::make_shared<token_options>();
  auto* cmd = app.add_subcommand("token", "Print an HS256 JWT for --user signed with --secret.");
  cmd->add_option("--secret", opts->secret, "HS256 shared secret")->required();
  cmd->add_option("--user", opts->user, "the token's `sub`")->required();
  cmd->add_option("--ttl", opts->ttl,
                  "seconds until `exp` (default 3600; zero or negative mints an expired token)");
  cmd->add_option("--issuer", opts->issuer, "`iss` claim");
  cmd->add_option("--audience", opts->audience, "`aud` claim");
  return {cmd, [opts] { return run_token(*opts); }};
}

}  // namespace parley::tools
