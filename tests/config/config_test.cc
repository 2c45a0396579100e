#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

extern char** environ;

namespace parley::config {
namespace {

namespace fs = std::filesystem;

// Each test starts with no PARLEY_* variable set (ctest sets PARLEY_BIN_DIR, a developer's
// shell may set more) and gets them back afterwards.
class config_test : public ::testing::Test {
 protected:
  void SetUp() override {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry = *e;
      if (!entry.starts_with("PARLEY_")) continue;
      auto eq = entry.find('=');
      saved_env_[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    for (const auto& [name, value] : saved_env_) unsetenv(name.c_str());
    dir_ = fs::temp_directory_path() /
           ("parley_config_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    for (const auto& name : set_env_) unsetenv(name.c_str());
    for (const auto& [name, value] : saved_env_) setenv(name.c_str(), value.c_str(), 1);
    fs::remove_all(dir_);
  }

  void env(const std::string& name, const std::string& value) {
    setenv(name.c_str(), value.c_str(), 1);
    set_env_.push_back(name);
  }

  std::string file(const std::string& name, const std::string& content) {
    auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }

  static std::optional<config> load_args(std::vector<std::string> args) {
    args.insert(args.begin(), "parleyd");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    return load(static_cast<int>(args.size()), argv.data());
  }

  // Loads with a JWT secret unless the arguments bring their own key material.
  static config run(std::vector<std::string> args) {
    auto c = load_args(std::move(args));
    EXPECT_TRUE(c.has_value());
    return c ? *c : config{};
  }

  // The config_error message of loading `args`, or "(no error)".
  static std::string error_of(std::vector<std::string> args) {
    try {
      load_args(std::move(args));
    } catch (const config_error& e) {
      return e.what();
    }
    return "(no error)";
  }

  std::map<std::string, std::string> saved_env_;
  std::vector<std::string> set_env_;
  fs::path dir_;
};

TEST_F(config_test, defaults) {
  config c = run({"--dev"});
  const config d;
  EXPECT_EQ(c.listen_host, "127.0.0.1");
  EXPECT_EQ(c.listen_port, 8080);
  EXPECT_EQ(c.db, "sqlite:./data/parley.db");
  EXPECT_FALSE(c.jwt_secret);
  EXPECT_FALSE(c.jwt_public_key_file);
  EXPECT_FALSE(c.jwt_public_key_pem);
  EXPECT_FALSE(c.jwt_issuer);
  EXPECT_FALSE(c.jwt_audience);
  EXPECT_EQ(c.jwt_skew_ms, 30'000);
  EXPECT_EQ(c.node_id, "");
  EXPECT_EQ(c.threads, 0);
  EXPECT_TRUE(c.dev);
  EXPECT_EQ(c.max_frame_bytes, d.max_frame_bytes);
  EXPECT_EQ(c.max_text_bytes, 16u * 1024);
  EXPECT_EQ(c.send_rate, 50);
  EXPECT_EQ(c.frame_rate, 100);
  EXPECT_EQ(c.send_queue_bytes, d.send_queue_bytes);
  EXPECT_EQ(c.send_queue_messages, d.send_queue_messages);
  EXPECT_EQ(c.replay_max, 1000);
  EXPECT_EQ(c.max_room_members, 10000);
  EXPECT_EQ(c.ping_interval_s, 30);
  EXPECT_EQ(c.idle_timeout_s, 75);
  EXPECT_EQ(c.gap_wait_ms, 50);
  EXPECT_EQ(c.store_readers, 4);
  EXPECT_EQ(c.store_queue, 4096u);
  EXPECT_FALSE(c.commit_interval_us);  // the store's own default
  EXPECT_EQ(c.log_level, "info");
  EXPECT_TRUE(c.kafka_brokers.empty());
  EXPECT_EQ(c.kafka_topic, "parley.messages");
  EXPECT_EQ(c.kafka_partitions, 12);
  EXPECT_EQ(c.kafka_replication, 1);
  EXPECT_TRUE(c.kafka_options.empty());
}

TEST_F(config_test, jwt_key_required_unless_dev) {
  EXPECT_EQ(error_of({}), "no JWT key: give --jwt-secret or --jwt-public-key (or --dev)");
  EXPECT_EQ(error_of({"--listen", "127.0.0.1:1"}),
            "no JWT key: give --jwt-secret or --jwt-public-key (or --dev)");
  EXPECT_EQ(run({"--jwt-secret", "s3cret"}).jwt_secret, "s3cret");
  EXPECT_TRUE(run({"--dev"}).dev);
}

TEST_F(config_test, every_flag) {
  auto pem = file("key.pem", "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n");
  config c = run({"--listen=0.0.0.0:9000",
                  "--db",
                  "postgresql://u:p@db/parley",
                  "--jwt-secret",
                  "sec",
                  "--jwt-public-key",
                  pem,
                  "--jwt-issuer",
                  "iss",
                  "--jwt-audience",
                  "aud",
                  "--jwt-skew-ms",
                  "0",
                  "--node-id",
                  "n1",
                  "--threads",
                  "3",
                  "--dev",
                  "--web-root",
                  "/srv/web",
                  "--max-frame-bytes",
                  "1000",
                  "--max-text-bytes",
                  "900",
                  "--send-rate",
                  "2.5",
                  "--frame-rate",
                  "7",
                  "--send-queue-bytes",
                  "5000",
                  "--send-queue-messages",
                  "6",
                  "--replay-max",
                  "10",
                  "--max-room-members",
                  "3",
                  "--ping-interval",
                  "5",
                  "--idle-timeout",
                  "11",
                  "--gap-wait-ms",
                  "0",
                  "--store-readers",
                  "2",
                  "--store-queue",
                  "16",
                  "--commit-interval-us",
                  "0",
                  "--log-level",
                  "debug",
                  "--kafka",
                  "k1:9092, k2:9092",
                  "--kafka-topic",
                  "chat.v1",
                  "--kafka-partitions",
                  "4",
                  "--kafka-replication",
                  "3",
                  "--kafka-option",
                  "acks=all",
                  "--kafka-option=sasl.password=a=b,c"});
  EXPECT_EQ(c.listen_host, "0.0.0.0");
  EXPECT_EQ(c.listen_port, 9000);
  EXPECT_EQ(c.db, "postgresql://u:p@db/parley");
  EXPECT_EQ(c.jwt_secret, "sec");
  EXPECT_EQ(c.jwt_public_key_file, pem);
  EXPECT_EQ(c.jwt_public_key_pem, "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n");
  EXPECT_EQ(c.jwt_issuer, "iss");
  EXPECT_EQ(c.jwt_audience, "aud");
  EXPECT_EQ(c.jwt_skew_ms, 0);
  EXPECT_EQ(c.node_id, "n1");
  EXPECT_EQ(c.threads, 3);
  EXPECT_TRUE(c.dev);
  EXPECT_EQ(c.web_root, "/srv/web");
  EXPECT_EQ(c.max_frame_bytes, 1000u);
  EXPECT_EQ(c.max_text_bytes, 900u);
  EXPECT_EQ(c.send_rate, 2.5);
  EXPECT_EQ(c.frame_rate, 7);
  EXPECT_EQ(c.send_queue_bytes, 5000u);
  EXPECT_EQ(c.send_queue_messages, 6u);
  EXPECT_EQ(c.replay_max, 10);
  EXPECT_EQ(c.max_room_members, 3);
  EXPECT_EQ(c.ping_interval_s, 5);
  EXPECT_EQ(c.idle_timeout_s, 11);
  EXPECT_EQ(c.gap_wait_ms, 0);
  EXPECT_EQ(c.store_readers, 2);
  EXPECT_EQ(c.store_queue, 16u);
  EXPECT_EQ(c.commit_interval_us, 0);  // set (to 0), not the store's default
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.kafka_brokers, (std::vector<std::string>{"k1:9092", "k2:9092"}));
  EXPECT_EQ(c.kafka_topic, "chat.v1");
  EXPECT_EQ(c.kafka_partitions, 4);
  EXPECT_EQ(c.kafka_replication, 3);
  EXPECT_EQ(c.kafka_options, (std::vector<std::string>{"acks=all", "sasl.password=a=b,c"}));
}

TEST_F(config_test, listen_forms) {
  auto listen = [&](std::string v) {
    config c = run({"--dev", "--listen", v});
    return c.listen_host + " " + std::to_string(c.listen_port);
  };
  EXPECT_EQ(listen("localhost:0"), "localhost 0");
  EXPECT_EQ(listen("10.0.0.1:65535"), "10.0.0.1 65535");
  EXPECT_EQ(listen("[::1]:8081"), "::1 8081");
  EXPECT_EQ(listen("[::]:80"), ":: 80");
  EXPECT_EQ(error_of({"--dev", "--listen", "abc"}), "--listen: expected HOST:PORT, got 'abc'");
  for (std::string bad : {"abc", "host:", ":80", "host:x", "host:-1", "host:+1", "::1:80",
                          "[::1]80", "[::1]:", "[]:80", "a b:80", "host:80 "}) {
    EXPECT_EQ(error_of({"--dev", "--listen=" + bad}),
              "--listen: expected HOST:PORT, got '" + bad + "'");
  }
  EXPECT_EQ(error_of({"--dev", "--listen", "host:65536"}),
            "--listen: port out of range 0..65535 in 'host:65536'");
  EXPECT_EQ(error_of({"--dev", "--listen", "host:99999999999999999999"}),
            "--listen: port out of range 0..65535 in 'host:99999999999999999999'");
}

TEST_F(config_test, flag_validation_errors) {
  auto e = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "--dev");
    return error_of(std::move(args));
  };
  EXPECT_EQ(e({"--db", "mysql://x"}),
            "--db: expected sqlite:PATH or postgresql://..., got 'mysql://x'");
  EXPECT_EQ(e({"--db", "sqlite:"}),
            "--db: expected sqlite:PATH or postgresql://..., got 'sqlite:'");
  EXPECT_EQ(e({"--db", "./file.db"}),
            "--db: expected sqlite:PATH or postgresql://..., got './file.db'");
  EXPECT_EQ(run({"--dev", "--db", "sqlite::memory:"}).db, "sqlite::memory:");
  EXPECT_EQ(run({"--dev", "--db", "postgres://h/db"}).db, "postgres://h/db");

  EXPECT_EQ(e({"--max-text-bytes", "0"}), "--max-text-bytes: expected a positive integer, got '0'");
  EXPECT_EQ(e({"--max-text-bytes=-5"}), "--max-text-bytes: expected a positive integer, got '-5'");
  EXPECT_EQ(e({"--max-text-bytes", "1.5"}),
            "--max-text-bytes: expected a positive integer, got '1.5'");
  EXPECT_EQ(e({"--max-text-bytes", "abc"}), "--max-text-bytes: not a number: 'abc'");
  EXPECT_EQ(e({"--max-text-bytes", "12k"}), "--max-text-bytes: not a number: '12k'");
  EXPECT_EQ(e({"--max-frame-bytes", "0"}),
            "--max-frame-bytes: expected a positive integer, got '0'");
  EXPECT_EQ(e({"--send-queue-bytes", "0"}),
            "--send-queue-bytes: expected a positive integer, got '0'");
  EXPECT_EQ(e({"--send-queue-messages", "0"}),
            "--send-queue-messages: expected a positive integer, got '0'");
  EXPECT_EQ(e({"--replay-max", "0"}), "--replay-max: expected a positive integer, got '0'");
  EXPECT_EQ(e({"--replay-max", "3000000000"}),
            "--replay-max: expected a positive integer, got '3000000000'");
  EXPECT_EQ(e({"--max-room-members", "0"}),
            "--max-room-members: expected a positive integer, got '0'");
  EXPECT_EQ(e({"--ping-interval", "0"}), "--ping-interval: expected a positive integer, got '0'");
  EXPECT_EQ(e({"--idle-timeout", "0"}), "--idle-timeout: expected a positive integer, got '0'");
  EXPECT_EQ(e({"--gap-wait-ms=-1"}), "--gap-wait-ms: expected a non-negative integer, got '-1'");
  EXPECT_EQ(e({"--store-readers", "0"}), "--store-readers: expected an integer 1..1024, got '0'");
  EXPECT_EQ(e({"--store-queue", "0"}), "--store-queue: expected an integer 1..1000000, got '0'");
  EXPECT_EQ(e({"--commit-interval-us=-1"}),
            "--commit-interval-us: expected an integer 0..1000000, got '-1'");
  EXPECT_EQ(e({"--commit-interval-us", "2000000"}),
            "--commit-interval-us: expected an integer 0..1000000, got '2000000'");
  EXPECT_EQ(e({"--threads", "2000"}), "--threads: expected an integer 0..1024, got '2000'");
  EXPECT_EQ(e({"--jwt-skew-ms=-1"}), "--jwt-skew-ms: expected an integer 0..86400000, got '-1'");
  EXPECT_EQ(e({"--kafka-partitions", "0"}),
            "--kafka-partitions: expected a positive integer, got '0'");
  EXPECT_EQ(e({"--kafka-replication", "x"}), "--kafka-replication: not a number: 'x'");

  EXPECT_EQ(e({"--send-rate", "0"}), "--send-rate: expected a positive number, got '0'");
  EXPECT_EQ(e({"--send-rate=-2"}), "--send-rate: expected a positive number, got '-2'");
  EXPECT_EQ(e({"--send-rate", "x"}), "--send-rate: not a number: 'x'");
  EXPECT_EQ(e({"--send-rate", "inf"}), "--send-rate: not a number: 'inf'");
  EXPECT_EQ(e({"--send-rate", "nan"}), "--send-rate: not a number: 'nan'");
  EXPECT_EQ(e({"--frame-rate", "0"}), "--frame-rate: expected a positive number, got '0'");

  EXPECT_EQ(e({"--log-level", "verbose"}),
            "--log-level: expected one of trace, debug, info, warn, error, off, got 'verbose'");
  for (auto* level : {"trace", "debug", "info", "warn", "error", "off"})
    EXPECT_EQ(run({"--dev", "--log-level", level}).log_level, level);

  EXPECT_EQ(e({"--jwt-secret", ""}), "--jwt-secret: must not be empty");
  EXPECT_EQ(e({"--jwt-issuer", ""}), "--jwt-issuer: must not be empty");
  EXPECT_EQ(e({"--jwt-audience", ""}), "--jwt-audience: must not be empty");
  EXPECT_EQ(e({"--jwt-public-key", ""}), "--jwt-public-key: must not be empty");
  EXPECT_EQ(e({"--jwt-secret="}), "--jwt-secret: 1 required SECRET missing");
  EXPECT_EQ(e({"--kafka", "a:1,,b:2"}), "--kafka: empty item in list 'a:1,,b:2'");
  EXPECT_EQ(
      e({"--kafka-topic", "bad topic"}),
      "--kafka-topic: expected a Kafka topic name ([A-Za-z0-9._-], at most 249), got 'bad topic'");
  EXPECT_EQ(e({"--kafka-option", "acks"}), "--kafka-option: expected key=value, got 'acks'");
  EXPECT_EQ(e({"--kafka-option", "=all"}), "--kafka-option: expected key=value, got '=all'");
}

TEST_F(config_test, unknown_and_malformed_arguments) {
  EXPECT_EQ(error_of({"--dev", "--foo"}), "unknown option --foo");
  EXPECT_EQ(error_of({"--dev", "--foo=bar"}), "unknown option --foo");
  EXPECT_EQ(error_of({"--foo", "--dev"}), "unknown option --foo");
  EXPECT_EQ(error_of({"--dev", "-x"}), "unknown option -x");
  EXPECT_EQ(error_of({"--dev", "stray"}), "unexpected argument 'stray'");
  // A value-taking flag without its value.
  EXPECT_NE(error_of({"--dev", "--listen"}).find("--listen"), std::string::npos);
}

TEST_F(config_test, repeated_flags_last_wins) {
  config c = run({"--dev", "--threads", "1", "--threads", "2", "--kafka-option", "a=1",
                  "--kafka-option", "b=2"});
  EXPECT_EQ(c.threads, 2);
  EXPECT_EQ(c.kafka_options, (std::vector<std::string>{"a=1", "b=2"}));
}

TEST_F(config_test, dev_flag_forms) {
  EXPECT_FALSE(run({"--jwt-secret", "s", "--dev=false"}).dev);
  EXPECT_TRUE(run({"--dev=true"}).dev);
  env("PARLEY_DEV", "true");
  EXPECT_TRUE(run({}).dev);
  EXPECT_FALSE(run({"--jwt-secret", "s", "--dev=false"}).dev);  // flag beats environment
  env("PARLEY_DEV", "0");
  EXPECT_EQ(error_of({}), "no JWT key: give --jwt-secret or --jwt-public-key (or --dev)");
  env("PARLEY_DEV", "maybe");
  EXPECT_EQ(error_of({}), "PARLEY_DEV: expected true or false, got 'maybe'");
}

// Socket writes batched through io_uring unless turned off (net/send_batch.h).
TEST_F(config_test, no_io_uring_flag) {
  EXPECT_FALSE(run({"--jwt-secret", "s"}).no_io_uring);
  EXPECT_TRUE(run({"--jwt-secret", "s", "--no-io-uring"}).no_io_uring);
  env("PARLEY_NO_IO_URING", "1");
  EXPECT_TRUE(run({"--jwt-secret", "s"}).no_io_uring);
  EXPECT_FALSE(run({"--jwt-secret", "s", "--no-io-uring=false"}).no_io_uring);
}

TEST_F(config_test, jwt_public_key_file) {
  auto pem = file("k.pem", "PEM BYTES\n");
  config c = run({"--jwt-public-key", pem});
  EXPECT_EQ(c.jwt_public_key_pem, "PEM BYTES\n");
  EXPECT_FALSE(c.jwt_secret);

  auto missing = (dir_ / "missing.pem").string();
  EXPECT_EQ(error_of({"--jwt-public-key", missing}),
            "--jwt-public-key: cannot read '" + missing + "': No such file or directory");
  auto empty = file("empty.pem", "");
  EXPECT_EQ(error_of({"--jwt-public-key", empty}), "--jwt-public-key: '" + empty + "' is empty");
  EXPECT_EQ(error_of({"--jwt-public-key", dir_.string()}),
            "--jwt-public-key: cannot read '" + dir_.string() + "': is a directory");
  // The error names the source that chose the file.
  env("PARLEY_JWT_PUBLIC_KEY", missing);
  EXPECT_EQ(error_of({}),
            "PARLEY_JWT_PUBLIC_KEY: cannot read '" + missing + "': No such file or directory");
  // ... and a later source may override a bad earlier one without reading it.
  EXPECT_EQ(run({"--jwt-public-key", pem}).jwt_public_key_pem, "PEM BYTES\n");
}

TEST_F(config_test, environment_names) {
  auto pem = file("k.pem", "PEM");
  const std::map<std::string, std::string> vars = {
      {"PARLEY_LISTEN", "1.2.3.4:5"},
      {"PARLEY_DB", "sqlite:/tmp/x.db"},
      {"PARLEY_JWT_SECRET", "es"},
      {"PARLEY_JWT_PUBLIC_KEY", pem},
      {"PARLEY_JWT_ISSUER", "ei"},
      {"PARLEY_JWT_AUDIENCE", "ea"},
      {"PARLEY_JWT_SKEW_MS", "5"},
      {"PARLEY_NODE_ID", "en"},
      {"PARLEY_THREADS", "6"},
      {"PARLEY_DEV", "yes"},
      {"PARLEY_WEB_ROOT", "/w"},
      {"PARLEY_MAX_FRAME_BYTES", "7"},
      {"PARLEY_MAX_TEXT_BYTES", "8"},
      {"PARLEY_SEND_RATE", "9.5"},
      {"PARLEY_FRAME_RATE", "10"},
      {"PARLEY_SEND_QUEUE_BYTES", "11"},
      {"PARLEY_SEND_QUEUE_MESSAGES", "12"},
      {"PARLEY_REPLAY_MAX", "13"},
      {"PARLEY_MAX_ROOM_MEMBERS", "14"},
      {"PARLEY_PING_INTERVAL", "15"},
      {"PARLEY_IDLE_TIMEOUT", "16"},
      {"PARLEY_GAP_WAIT_MS", "17"},
      {"PARLEY_STORE_READERS", "18"},
      {"PARLEY_LOG_LEVEL", "warn"},
      {"PARLEY_KAFKA", "b1:1,b2:2"},
      {"PARLEY_KAFKA_TOPIC", "t"},
      {"PARLEY_KAFKA_PARTITIONS", "19"},
      {"PARLEY_KAFKA_REPLICATION", "20"},
      {"PARLEY_KAFKA_OPTION", "a=1\nb=x,y;z\n"},
  };
  for (const auto& [name, value] : vars) env(name, value);
  config c = run({});
  EXPECT_EQ(c.listen_host, "1.2.3.4");
  EXPECT_EQ(c.listen_port, 5);
  EXPECT_EQ(c.db, "sqlite:/tmp/x.db");
  EXPECT_EQ(c.jwt_secret, "es");
  EXPECT_EQ(c.jwt_public_key_pem, "PEM");
  EXPECT_EQ(c.jwt_issuer, "ei");
  EXPECT_EQ(c.jwt_audience, "ea");
  EXPECT_EQ(c.jwt_skew_ms, 5);
  EXPECT_EQ(c.node_id, "en");
  EXPECT_EQ(c.threads, 6);
  EXPECT_TRUE(c.dev);
  EXPECT_EQ(c.web_root, "/w");
  EXPECT_EQ(c.max_frame_bytes, 7u);
  EXPECT_EQ(c.max_text_bytes, 8u);
  EXPECT_EQ(c.send_rate, 9.5);
  EXPECT_EQ(c.frame_rate, 10);
  EXPECT_EQ(c.send_queue_bytes, 11u);
  EXPECT_EQ(c.send_queue_messages, 12u);
  EXPECT_EQ(c.replay_max, 13);
  EXPECT_EQ(c.max_room_members, 14);
  EXPECT_EQ(c.ping_interval_s, 15);
  EXPECT_EQ(c.idle_timeout_s, 16);
  EXPECT_EQ(c.gap_wait_ms, 17);
  EXPECT_EQ(c.store_readers, 18);
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.kafka_brokers, (std::vector<std::string>{"b1:1", "b2:2"}));
  EXPECT_EQ(c.kafka_topic, "t");
  EXPECT_EQ(c.kafka_partitions, 19);
  EXPECT_EQ(c.kafka_replication, 20);
  EXPECT_EQ(c.kafka_options, (std::vector<std::string>{"a=1", "b=x,y;z"}));
}

TEST_F(config_test, environment_errors_name_the_variable) {
  env("PARLEY_SEND_RATE", "x");
  EXPECT_EQ(error_of({"--dev"}), "PARLEY_SEND_RATE: not a number: 'x'");
  // A flag does not hide a bad environment value: every source is validated.
  EXPECT_EQ(error_of({"--dev", "--send-rate", "3"}), "PARLEY_SEND_RATE: not a number: 'x'");
  env("PARLEY_SEND_RATE", "3");
  env("PARLEY_LISTEN", "nope");
  EXPECT_EQ(error_of({"--dev"}), "PARLEY_LISTEN: expected HOST:PORT, got 'nope'");
}

TEST_F(config_test, empty_environment_is_unset) {
  env("PARLEY_LISTEN", "");
  env("PARLEY_JWT_SECRET", "");
  EXPECT_EQ(error_of({}), "no JWT key: give --jwt-secret or --jwt-public-key (or --dev)");
  EXPECT_EQ(run({"--dev"}).listen_port, 8080);
}

TEST_F(config_test, unrelated_environment_is_ignored) {
  env("PARLEY_BIN_DIR", "/somewhere");
  env("PARLEY_NOT_AN_OPTION", "x");
  EXPECT_TRUE(run({"--dev"}).dev);
}

TEST_F(config_test, toml_file) {
  auto path = file("parley.toml", R"(
# both spellings of a key are accepted
listen = "0.0.0.0:9000"
max_text_bytes = 1000
max-frame-bytes = 2000
send_rate = 50
frame-rate = 12.5
dev = true
jwt_secret = "from-file"
log_level = "error"
kafka = ["k1:9092", "k2:9092"]
kafka_topic = "t1"
node_id = ""
kafka_option = { "acks" = "all", "linger.ms" = 5, "enable.idempotence" = true }
)");
  config c = run({"--config", path});
  EXPECT_EQ(c.listen_host, "0.0.0.0");
  EXPECT_EQ(c.listen_port, 9000);
  EXPECT_EQ(c.max_text_bytes, 1000u);
  EXPECT_EQ(c.max_frame_bytes, 2000u);
  EXPECT_EQ(c.send_rate, 50);
  EXPECT_EQ(c.frame_rate, 12.5);
  EXPECT_TRUE(c.dev);
  EXPECT_EQ(c.jwt_secret, "from-file");
  EXPECT_EQ(c.log_level, "error");
  EXPECT_EQ(c.kafka_brokers, (std::vector<std::string>{"k1:9092", "k2:9092"}));
  EXPECT_EQ(c.kafka_topic, "t1");
  EXPECT_EQ(c.kafka_options.size(), 3u);
  EXPECT_NE(std::find(c.kafka_options.begin(), c.kafka_options.end(), "linger.ms=5"),
            c.kafka_options.end());
  EXPECT_NE(std::find(c.kafka_options.begin(), c.kafka_options.end(), "enable.idempotence=true"),
            c.kafka_options.end());

  auto other = file("other.toml", R"(
kafka = "a:1, b:2"
kafka-option = ["x=1", "y=2"]
dev = true
)");
  c = run({"--config=" + other});
  EXPECT_EQ(c.kafka_brokers, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(c.kafka_options, (std::vector<std::string>{"x=1", "y=2"}));
}

TEST_F(config_test, toml_errors) {
  auto e = [&](const std::string& name, const std::string& content) {
    return error_of({"--dev", "--config", file(name, content)});
  };
  auto p = [&](const std::string& name) { return (dir_ / name).string(); };
  EXPECT_EQ(
      e("a.toml", "max_text_bytes = -5\n"),
      "config file " + p("a.toml") + ": key max_text_bytes: expected a positive integer, got -5");
  EXPECT_EQ(e("b.toml", "max_text_bytes = \"1000\"\n"),
            "config file " + p("b.toml") +
                ": key max_text_bytes: expected a positive integer, got the string \"1000\"");
  EXPECT_EQ(
      e("c.toml", "max-text-bytes = 1.5\n"),
      "config file " + p("c.toml") + ": key max-text-bytes: expected a positive integer, got 1.5");
  EXPECT_EQ(e("d.toml", "foo = 1\n"), "config file " + p("d.toml") + ": unknown key 'foo'");
  EXPECT_EQ(e("e.toml", "config = \"x.toml\"\n"),
            "config file " + p("e.toml") + ": unknown key 'config'");
  EXPECT_EQ(e("f.toml", "max_text_bytes = 1\nmax-text-bytes = 2\n"),
            "config file " + p("f.toml") +
                ": keys 'max-text-bytes' and 'max_text_bytes' set the same option");
  EXPECT_EQ(e("g.toml", "send_rate = \"fast\"\n"),
            "config file " + p("g.toml") +
                ": key send_rate: expected a positive number, got the string \"fast\"");
  EXPECT_EQ(e("h.toml", "send_rate = 0\n"),
            "config file " + p("h.toml") + ": key send_rate: expected a positive number, got 0");
  EXPECT_EQ(e("i.toml", "listen = 8080\n"),
            "config file " + p("i.toml") + ": key listen: expected a string, got 8080");
  EXPECT_EQ(
      e("j.toml", "dev = \"yes\"\n"),
      "config file " + p("j.toml") + ": key dev: expected true or false, got the string \"yes\"");
  EXPECT_EQ(e("k.toml", "listen = 1979-05-27\n"),
            "config file " + p("k.toml") + ": key listen: unsupported value (a date or time)");
  EXPECT_EQ(e("l.toml", "[listen]\nhost = \"x\"\n"),
            "config file " + p("l.toml") + ": key listen: unsupported value (a table)");
  EXPECT_EQ(e("m.toml", "kafka = [1, 2]\n"),
            "config file " + p("m.toml") + ": key kafka: expected an array of strings");
  EXPECT_EQ(
      e("n.toml", "log_level = \"loud\"\n"),
      "config file " + p("n.toml") +
          ": key log_level: expected one of trace, debug, info, warn, error, off, got 'loud'");
  std::string parse = e("o.toml", "listen = \n");
  EXPECT_TRUE(parse.starts_with("config file " + p("o.toml") + ": line 1, column ")) << parse;
  EXPECT_EQ(error_of({"--dev", "--config", p("missing.toml")}),
            "config file " + p("missing.toml") + ": cannot read '" + p("missing.toml") +
                "': No such file or directory");
  EXPECT_EQ(error_of({"--dev", "--config", ""}), "--config: must not be empty");
  EXPECT_EQ(
      error_of({"--dev", "--config", dir_.string()}),
      "config file " + dir_.string() + ": cannot read '" + dir_.string() + "': is a directory");
}

TEST_F(config_test, precedence) {
  auto path = file("p.toml", R"(
max_text_bytes = 1000
send_rate = 10
threads = 2
log_level = "debug"
jwt_secret = "file-secret"
)");
  // defaults < file
  config c = run({"--config", path});
  EXPECT_EQ(c.max_text_bytes, 1000u);
  EXPECT_EQ(c.send_rate, 10);
  EXPECT_EQ(c.threads, 2);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.jwt_secret, "file-secret");
  EXPECT_EQ(c.max_frame_bytes, config{}.max_frame_bytes);
  // file < environment
  env("PARLEY_MAX_TEXT_BYTES", "2000");
  env("PARLEY_SEND_RATE", "20");
  env("PARLEY_JWT_SECRET", "env-secret");
  c = run({"--config", path});
  EXPECT_EQ(c.max_text_bytes, 2000u);
  EXPECT_EQ(c.send_rate, 20);
  EXPECT_EQ(c.threads, 2);
  EXPECT_EQ(c.jwt_secret, "env-secret");
  // environment < flags
  c = run({"--config", path, "--max-text-bytes", "3000", "--threads", "4"});
  EXPECT_EQ(c.max_text_bytes, 3000u);
  EXPECT_EQ(c.send_rate, 20);
  EXPECT_EQ(c.threads, 4);
  EXPECT_EQ(c.log_level, "debug");
  // The file may also come from the environment; --config wins over PARLEY_CONFIG.
  auto other = file("q.toml", "threads = 7\njwt_secret = \"q\"\n");
  env("PARLEY_CONFIG", other);
  EXPECT_EQ(run({}).threads, 7);
  EXPECT_EQ(run({"--config", path}).threads, 2);
}

TEST_F(config_test, help_lists_everything_and_returns_nullopt) {
  ::testing::internal::CaptureStdout();
  std::optional<config> c;
  EXPECT_NO_THROW(c = load_args({"--help"}));
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_FALSE(c.has_value());
  for (auto* flag : {"--listen",
                     "--db",
                     "--jwt-secret",
                     "--jwt-public-key",
                     "--jwt-issuer",
                     "--jwt-audience",
                     "--jwt-skew-ms",
                     "--node-id",
                     "--threads",
                     "--dev",
                     "--web-root",
                     "--max-frame-bytes",
                     "--max-text-bytes",
                     "--send-rate",
                     "--frame-rate",
                     "--send-queue-bytes",
                     "--send-queue-messages",
                     "--replay-max",
                     "--max-room-members",
                     "--ping-interval",
                     "--idle-timeout",
                     "--gap-wait-ms",
                     "--store-readers",
                     "--commit-interval-us",
                     "--log-level",
                     "--kafka",
                     "--kafka-topic",
                     "--kafka-partitions",
                     "--kafka-replication",
                     "--kafka-option",
                     "--config",
                     "--help"})
    EXPECT_NE(out.find(flag), std::string::npos) << flag;
  for (auto* def : {"127.0.0.1:8080", "sqlite:./data/parley.db", "30000", "65536", "16384",
                    "4194304", "8192", "parley.messages", "PARLEY_MAX_TEXT_BYTES", "info"})
    EXPECT_NE(out.find(def), std::string::npos) << def;
  // Help needs no JWT key and works after other flags too.
  ::testing::internal::CaptureStdout();
  EXPECT_FALSE(load_args({"--listen", "x:1", "-h"}).has_value());
  EXPECT_FALSE(::testing::internal::GetCapturedStdout().empty());
}

}  // namespace
}  // namespace parley::config
