#include "config/config.h"

#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>
#include <string_view>
#include <variant>

namespace parley::config {
namespace {

// One source's value for one option. Flags and the environment give text, parsed here;
// the TOML file gives typed values, which must already have the right type (a quoted
// "1000" is not an integer there).
struct raw {
  std::variant<std::string, std::int64_t, double, bool, std::vector<std::string>> value;
  bool text = true;
};

using setter = std::function<void(config&, const raw&, const std::string& where)>;

enum class shape { value, flag, repeated };

struct option {
  std::string name;  // kebab-case flag name, without "--"
  std::string type;  // for --help
  std::string help;
  std::string default_text;
  shape kind = shape::value;
  setter apply;
};

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw config_error(where + ": " + what);
}

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

// How a rejected value is shown in an error message.
std::string describe(const raw& r) {
  return std::visit(
      [&](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return r.text ? in_quotes(v) : "the string \"" + v + "\"";
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          if (r.text && v.size() == 1) return in_quotes(v.front());
          return "an array";
        } else {
          std::ostringstream out;
          out << v;
          return out.str();
        }
      },
      r.value);
}

std::string format_number(double d) {
  std::ostringstream out;
  out << d;
  return out.str();
}

// The one text of `r`, if it is text (or a TOML string when `typed_ok`).
const std::string* text_of(const raw& r, bool typed_ok) {
  if (!r.text && !typed_ok) return nullptr;
  if (auto* s = std::get_if<std::string>(&r.value)) return s;
  if (auto* v = std::get_if<std::vector<std::string>>(&r.value); v && r.text && v->size() == 1)
    return &v->front();
  return nullptr;
}

bool parses_as_double(std::string_view s, double& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size() && std::isfinite(out);
}

std::int64_t to_int(const raw& r, const std::string& where, std::int64_t min, std::int64_t max,
                    const std::string& expected) {
  std::int64_t n = 0;
  if (const std::string* s = text_of(r, false)) {
    auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), n);
    if (ec != std::errc{} || end != s->data() + s->size() || s->empty()) {
      double d;
      // "1.5" or "99999999999999999999" is a number, just not an acceptable one.
      if (!parses_as_double(*s, d)) fail(where, "not a number: " + in_quotes(*s));
      fail(where, "expected " + expected + ", got " + in_quotes(*s));
    }
  } else if (auto* i = std::get_if<std::int64_t>(&r.value)) {
    n = *i;
  } else {
    fail(where, "expected " + expected + ", got " + describe(r));
  }
  if (n < min || n > max) fail(where, "expected " + expected + ", got " + describe(r));
  return n;
}

double to_positive_double(const raw& r, const std::string& where) {
  const std::string expected = "a positive number";
  double d = 0;
  if (const std::string* s = text_of(r, false)) {
    if (!parses_as_double(*s, d)) fail(where, "not a number: " + in_quotes(*s));
  } else if (auto* i = std::get_if<std::int64_t>(&r.value)) {
    d = static_cast<double>(*i);
  } else if (auto* f = std::get_if<double>(&r.value)) {
    d = *f;
  } else {
    fail(where, "expected " + expected + ", got " + describe(r));
  }
  if (!(d > 0) || !std::isfinite(d)) fail(where, "expected " + expected + ", got " + describe(r));
  return d;
}

bool to_bool(const raw& r, const std::string& where) {
  if (auto* b = std::get_if<bool>(&r.value)) return *b;
  if (const std::string* s = text_of(r, false)) {
    std::string lower = *s;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") return true;
    if (lower == "0" || lower == "false" || lower == "no" || lower == "off") return false;
  }
  fail(where, "expected true or false, got " + describe(r));
}

std::string to_string(const raw& r, const std::string& where, bool allow_empty = false) {
  const std::string* s = text_of(r, true);
  if (s == nullptr) fail(where, "expected a string, got " + describe(r));
  if (s->empty() && !allow_empty) fail(where, "must not be empty");
  return *s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A comma-separated list (flag, environment, TOML string) or a TOML array of strings.
std::vector<std::string> to_list(const raw& r, const std::string& where) {
  std::vector<std::string> items;
  if (const std::string* s = text_of(r, true)) {
    std::string_view rest = *s;
    if (trim(rest).empty()) return items;  // explicitly empty: no brokers
    while (true) {
      auto comma = rest.find(',');
      auto item = trim(rest.substr(0, comma));
      if (item.empty()) fail(where, "empty item in list " + in_quotes(*s));
      items.emplace_back(item);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return items;
  }
  if (auto* v = std::get_if<std::vector<std::string>>(&r.value)) {
    for (const auto& item : *v)
      if (trim(item).empty()) fail(where, "empty item in list");
    return *v;
  }
  fail(where, "expected a comma-separated list or an array of strings, got " + describe(r));
}

void set_listen(config& c, const raw& r, const std::string& where) {
  const std::string s = to_string(r, where, true);
  auto bad = [&]() { fail(where, "expected HOST:PORT, got " + in_quotes(s)); };
  std::string_view v = s;
  std::string_view host;
  std::string_view port;
  if (v.starts_with('[')) {  // [IPv6]:PORT
    auto close = v.find(']');
    if (close == std::string_view::npos || close + 1 >= v.size() || v[close + 1] != ':') bad();
    host = v.substr(1, close - 1);
    port = v.substr(close + 2);
  } else {
    auto colon = v.rfind(':');
    if (colon == std::string_view::npos) bad();
    host = v.substr(0, colon);
    port = v.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) bad();  // IPv6 needs brackets
  }
  if (host.empty() || port.empty() ||
      std::any_of(host.begin(), host.end(), [](unsigned char ch) { return std::isspace(ch); }))
    bad();
  if (!std::all_of(port.begin(), port.end(), [](unsigned char ch) { return std::isdigit(ch); }))
    bad();
  unsigned long n = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (ec != std::errc{} || n > 65535) fail(where, "port out of range 0..65535 in " + in_quotes(s));
  c.listen_host = std::string(host);
  c.listen_port = static_cast<std::uint16_t>(n);
}

void set_db(config& c, const raw& r, const std::string& where) {
  std::string s = to_string(r, where, true);
  auto has_rest = [&](std::string_view prefix) {
    return s.starts_with(prefix) && s.size() > prefix.size();
  };
  if (!has_rest("sqlite:") && !has_rest("postgresql://") && !has_rest("postgres://"))
    fail(where, "expected sqlite:PATH or postgresql://..., got " + in_quotes(s));
  c.db = std::move(s);
}

void set_log_level(config& c, const raw& r, const std::string& where) {
  std::string s = to_string(r, where, true);
  static const std::vector<std::string> levels = {"trace", "debug", "info", "warn", "error", "off"};
  if (std::find(levels.begin(), levels.end(), s) == levels.end())
    fail(where, "expected one of trace, debug, info, warn, error, off, got " + in_quotes(s));
  c.log_level = std::move(s);
}

void set_kafka_topic(config& c, const raw& r, const std::string& where) {
  std::string s = to_string(r, where);
  // Kafka's own rule; checking here turns a late broker error into a start-up one.
  bool ok = s.size() <= 249 && s != "." && s != ".." &&
            std::all_of(s.begin(), s.end(), [](unsigned char ch) {
              return std::isalnum(ch) || ch == '.' || ch == '_' || ch == '-';
            });
  if (!ok)
    fail(where, "expected a Kafka topic name ([A-Za-z0-9._-], at most 249), got " + in_quotes(s));
  c.kafka_topic = std::move(s);
}

void set_kafka_options(config& c, const raw& r, const std::string& where) {
  std::vector<std::string> items;
  if (auto* v = std::get_if<std::vector<std::string>>(&r.value)) {
    items = *v;
  } else if (auto* s = std::get_if<std::string>(&r.value)) {
    items = {*s};
  } else {
    fail(where, "expected key=value strings, got " + describe(r));
  }
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      fail(where, "expected key=value, got " + in_quotes(item));
  }
  c.kafka_options = std::move(items);
}

template <class T>
setter integer(T config::*field, std::int64_t min, std::int64_t max, std::string expected) {
  return [=](config& c, const raw& r, const std::string& where) {
    c.*field = static_cast<T>(to_int(r, where, min, max, expected));
  };
}
template <class T>
setter positive(T config::*field) {
  constexpr auto max = std::min<std::uint64_t>(std::numeric_limits<T>::max(),
                                               std::numeric_limits<std::int64_t>::max());
  return integer(field, 1, static_cast<std::int64_t>(max), "a positive integer");
}
setter positive_number(double config::*field) {
  return [=](config& c, const raw& r, const std::string& where) {
    c.*field = to_positive_double(r, where);
  };
}
setter text(std::optional<std::string> config::*field) {
  return [=](config& c, const raw& r, const std::string& where) { c.*field = to_string(r, where); };
}

const std::vector<option>& options() {
  static const std::vector<option> all = [] {
    const config d;
    auto num = [](auto v) { return std::to_string(v); };
    constexpr std::int64_t int_max = std::numeric_limits<int>::max();
    std::vector<option> o;
    auto add = [&](std::string name, std::string type, std::string help, std::string def,
                   setter apply, shape kind = shape::value) {
      o.push_back({std::move(name), std::move(type), std::move(help), std::move(def), kind,
                   std::move(apply)});
    };
    add("listen", "HOST:PORT", "address to listen on (port 0: any free port)",
        d.listen_host + ":" + num(d.listen_port), set_listen);
    add("db", "URL", "message store: sqlite:PATH or postgresql://...", d.db, set_db);
    add("jwt-secret", "SECRET", "HS256 shared secret", "", text(&config::jwt_secret));
    add("jwt-public-key", "FILE", "PEM public key file (RSA: RS256, EC P-256: ES256)", "",
        text(&config::jwt_public_key_file));
    add("jwt-issuer", "ISS", "required JWT iss", "", text(&config::jwt_issuer));
    add("jwt-audience", "AUD", "required JWT aud", "", text(&config::jwt_audience));
    add("jwt-skew-ms", "MS", "clock skew allowed on exp and nbf", num(d.jwt_skew_ms),
        integer(&config::jwt_skew_ms, 0, 86'400'000, "an integer 0..86400000"));
    add("node-id", "ID", "this node's id (default: HOSTNAME:PORT)", "",
        [](config& c, const raw& r, const std::string& w) { c.node_id = to_string(r, w, true); });
    add("threads", "N", "I/O threads (0: number of cores)", num(d.threads),
        integer(&config::threads, 0, 1024, "an integer 0..1024"));
    add(
        "no-io-uring", "",
        "one send() per socket write, not the writes of a round batched through io_uring", "",
        [](config& c, const raw& r, const std::string& w) { c.no_io_uring = to_bool(r, w); },
        shape::flag);
    add(
        "dev", "", "development mode: random JWT secret if none, POST /api/dev/token", "",
        [](config& c, const raw& r, const std::string& w) { c.dev = to_bool(r, w); }, shape::flag);
    add("web-root", "DIR", "directory of the web page (default: compiled in)", "",
        [](config& c, const raw& r, const std::string& w) { c.web_root = to_string(r, w, true); });
    add("max-frame-bytes", "BYTES", "largest WebSocket frame", num(d.max_frame_bytes),
        positive(&config::max_frame_bytes));
    add("max-text-bytes", "BYTES", "largest message text", num(d.max_text_bytes),
        positive(&config::max_text_bytes));
    add("send-rate", "PER_S", "messages per second per user per node (burst 2x)",
        format_number(d.send_rate), positive_number(&config::send_rate));
    add("frame-rate", "PER_S", "other frames per second per user per node",
        format_number(d.frame_rate), positive_number(&config::frame_rate));
    add("send-queue-bytes", "BYTES", "send queue bound per connection", num(d.send_queue_bytes),
        positive(&config::send_queue_bytes));
    add("send-queue-messages", "N", "send queue bound per connection", num(d.send_queue_messages),
        positive(&config::send_queue_messages));
    add("replay-max", "N", "messages replayed per join", num(d.replay_max),
        integer(&config::replay_max, 1, int_max, "a positive integer"));
    add("max-room-members", "N", "members per group room", num(d.max_room_members),
        integer(&config::max_room_members, 1, int_max, "a positive integer"));
    add("ping-interval", "S", "WebSocket ping interval, seconds", num(d.ping_interval_s),
        integer(&config::ping_interval_s, 1, int_max, "a positive integer"));
    add("idle-timeout", "S", "close after this many seconds without a frame", num(d.idle_timeout_s),
        integer(&config::idle_timeout_s, 1, int_max, "a positive integer"));
    add("gap-wait-ms", "MS", "wait for a missing seq before reading the store", num(d.gap_wait_ms),
        integer(&config::gap_wait_ms, 0, int_max, "a non-negative integer"));
    add("store-readers", "N", "store reader threads", num(d.store_readers),
        integer(&config::store_readers, 1, 1024, "an integer 1..1024"));
    add("store-queue", "N",
        "store calls waiting for a store thread; past N they are answered `unavailable` (503)",
        num(d.store_queue), integer(&config::store_queue, 1, 1'000'000, "an integer 1..1000000"));
    add("commit-interval-us", "US",
        "start a group commit at most once per US microseconds (default: 2000 with SQLite, 0 "
        "with PostgreSQL)",
        "", [](config& c, const raw& r, const std::string& w) {
          c.commit_interval_us =
              static_cast<int>(to_int(r, w, 0, 1'000'000, "an integer 0..1000000"));
        });
    add("log-level", "LEVEL", "trace, debug, info, warn, error or off", d.log_level, set_log_level);
    add("kafka", "BROKERS", "comma-separated Kafka brokers (cluster mode)", "",
        [](config& c, const raw& r, const std::string& w) { c.kafka_brokers = to_list(r, w); });
    add("kafka-topic", "TOPIC", "Kafka topic", d.kafka_topic, set_kafka_topic);
    add("kafka-partitions", "N", "partitions when creating the topic", num(d.kafka_partitions),
        integer(&config::kafka_partitions, 1, int_max, "a positive integer"));
    add("kafka-replication", "N", "replication factor when creating the topic",
        num(d.kafka_replication),
        integer(&config::kafka_replication, 1, int_max, "a positive integer"));
    add("kafka-option", "KEY=VALUE", "librdkafka option, repeatable", "", set_kafka_options,
        shape::repeated);
    return o;
  }();
  return all;
}

const option* find_option(std::string_view name) {
  for (const auto& o : options())
    if (o.name == name) return &o;
  return nullptr;
}

std::string env_name(std::string_view flag) {
  std::string out = "PARLEY_";
  for (char ch : flag)
    out += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

std::string read_file(const std::string& path, const std::string& where) {
  // A directory opens fine and reads as empty; say what it is instead.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(where, "cannot read " + in_quotes(path) + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(where, "cannot read " + in_quotes(path) + ": " + std::strerror(errno));
  std::string content{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) fail(where, "cannot read " + in_quotes(path) + ": " + std::strerror(errno));
  return content;
}

raw from_toml(const toml::node& node, const option& opt, const std::string& where) {
  raw r;
  r.text = false;
  if (auto* s = node.as_string()) {
    r.value = s->get();
  } else if (auto* i = node.as_integer()) {
    r.value = i->get();
  } else if (auto* f = node.as_floating_point()) {
    r.value = f->get();
  } else if (auto* b = node.as_boolean()) {
    r.value = b->get();
  } else if (auto* a = node.as_array()) {
    std::vector<std::string> items;
    for (const auto& item : *a) {
      if (!item.is_string()) fail(where, "expected an array of strings");
      items.push_back(item.as_string()->get());
    }
    r.value = std::move(items);
  } else if (auto* t = node.as_table(); t && opt.kind == shape::repeated) {
    // kafka_option = { "acks" = "all", "linger.ms" = 5 }
    std::vector<std::string> items;
    for (auto&& [key, value] : *t) {
      std::string v;
      if (auto* s = value.as_string())
        v = s->get();
      else if (auto* i = value.as_integer())
        v = std::to_string(i->get());
      else if (auto* b = value.as_boolean())
        v = b->get() ? "true" : "false";
      else
        fail(where, "key " + std::string(key.str()) + ": expected a string, integer or boolean");
      items.push_back(std::string(key.str()) + "=" + v);
    }
    r.value = std::move(items);
  } else {
    fail(where, std::string("unsupported value (") +
                    (node.is_table() ? "a table" : "a date or time") + ")");
  }
  return r;
}

void apply_file(config& c, const std::string& path, std::map<std::string, std::string>& origin) {
  const std::string where = "config file " + path;
  const std::string doc = read_file(path, where);
  toml::table table;
  try {
    table = toml::parse(doc, path);
  } catch (const toml::parse_error& e) {
    fail(where, "line " + std::to_string(e.source().begin.line) + ", column " +
                    std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
  }
  std::map<std::string, std::string> seen;  // normalised name -> key as written
  for (auto&& [key, node] : table) {
    std::string written(key.str());
    std::string name = written;
    std::replace(name.begin(), name.end(), '_', '-');
    const option* opt = find_option(name);
    if (opt == nullptr) fail(where, "unknown key " + in_quotes(written));
    if (auto it = seen.find(name); it != seen.end())
      fail(where, "keys " + in_quotes(std::min(written, it->second)) + " and " +
                      in_quotes(std::max(written, it->second)) + " set the same option");
    seen.emplace(name, written);
    const std::string key_where = where + ": key " + written;
    opt->apply(c, from_toml(node, *opt, key_where), key_where);
    origin[opt->name] = key_where;
  }
}

void apply_environment(config& c, std::map<std::string, std::string>& origin) {
  for (const auto& opt : options()) {
    const std::string name = env_name(opt.name);
    const char* value = std::getenv(name.c_str());
    // Empty counts as unset, as orchestrators often pass empty variables through.
    if (value == nullptr || *value == '\0') continue;
    raw r;
    if (opt.kind == shape::repeated) {
      // One key=value per line: values may contain commas or semicolons.
      std::vector<std::string> items;
      std::istringstream lines(value);
      for (std::string line; std::getline(lines, line);)
        if (!trim(line).empty()) items.emplace_back(trim(line));
      r.value = std::move(items);
    } else {
      r.value = std::string(value);
    }
    opt.apply(c, r, name);
    origin[opt.name] = name;
  }
}

std::string footer() {
  return "Every option can also be set in the environment as PARLEY_<NAME> (e.g.\n"
         "PARLEY_MAX_TEXT_BYTES=1000, PARLEY_DEV=true; PARLEY_KAFKA_OPTION holds one key=value\n"
         "per line) or in the --config TOML file (also PARLEY_CONFIG) as NAME = value, with '-'\n"
         "or '_' (max_text_bytes = 1000, kafka = [\"b1:9092\"], kafka_option = {acks = \"all\"}).\n"
         "Precedence: defaults < config file < environment < flags.";
}

}  // namespace

std::optional<config> load(int argc, const char* const* argv) {
  CLI::App app("parleyd: the parley chat server", argc > 0 && argv[0] ? argv[0] : "parleyd");
  app.allow_extras();
  app.footer(footer());
  app.get_formatter()->column_width(36);

  // Flags are captured as text and applied after the file and the environment, so that
  // their precedence and their error messages match the other sources exactly.
  std::map<std::string, std::string> flag_text;
  std::vector<std::string> kafka_option_flags;
  bool dev_flag = false;
  std::map<std::string, CLI::Option*> cli;
  for (const auto& opt : options()) {
    const std::string flag = "--" + opt.name;
    std::string help = opt.help + " [env " + env_name(opt.name) + "]";
    CLI::Option* o = nullptr;
    switch (opt.kind) {
      case shape::value:
        o = app.add_option(flag, flag_text[opt.name], help)
                ->type_name(opt.type)
                ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
        break;
      case shape::flag:
        o = app.add_flag(flag, dev_flag, help);
        break;
      case shape::repeated:
        o = app.add_option(flag, kafka_option_flags, help)
                ->type_name(opt.type)
                ->allow_extra_args(false);
        break;
    }
    if (!opt.default_text.empty()) o->default_str(opt.default_text);
    cli[opt.name] = o;
  }
  std::string config_file;
  CLI::Option* config_opt =
      app.add_option("--config", config_file, "TOML configuration file [env PARLEY_CONFIG]")
          ->type_name("FILE");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    throw config_error(e.what());
  }
  if (auto extra = app.remaining(); !extra.empty()) {
    const std::string& first = extra.front();
    if (first.starts_with("-"))
      throw config_error("unknown option " + first.substr(0, first.find('=')));
    throw config_error("unexpected argument " + in_quotes(first));
  }

  config c;
  std::map<std::string, std::string> origin;  // option -> where its final value came from
  if (config_opt->count() > 0) {
    if (config_file.empty()) throw config_error("--config: must not be empty");
    apply_file(c, config_file, origin);
  } else if (const char* env = std::getenv("PARLEY_CONFIG"); env != nullptr && *env != '\0') {
    apply_file(c, env, origin);
  }
  apply_environment(c, origin);
  for (const auto& opt : options()) {
    CLI::Option* o = cli.at(opt.name);
    if (o->count() == 0) continue;
    const std::string where = "--" + opt.name;
    raw r;
    switch (opt.kind) {
      case shape::value:
        r.value = flag_text[opt.name];
        break;
      case shape::flag:
        r.value = dev_flag;
        break;
      case shape::repeated:
        r.value = kafka_option_flags;
        break;
    }
    opt.apply(c, r, where);
    origin[opt.name] = where;
  }

  if (c.jwt_public_key_file)
    c.jwt_public_key_pem = read_file(*c.jwt_public_key_file, origin.at("jwt-public-key"));
  if (c.jwt_public_key_pem && c.jwt_public_key_pem->empty())
    fail(origin.at("jwt-public-key"), in_quotes(*c.jwt_public_key_file) + " is empty");
  if (!c.dev && !c.jwt_secret && !c.jwt_public_key_file)
    throw config_error("no JWT key: give --jwt-secret or --jwt-public-key (or --dev)");
  return c;
}

}  // namespace parley::config
