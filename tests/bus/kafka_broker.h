#pragma once
// A real single-node Kafka broker for one test (scripts/kafka), in its own temporary
// directory on a free port. stop() / the destructor always stop it, so a failing test
// leaves no broker behind.
#include <string>

namespace parley::test {

class kafka_broker {
 public:
  kafka_broker();
  ~kafka_broker();
  kafka_broker(const kafka_broker&) = delete;
  kafka_broker& operator=(const kafka_broker&) = delete;

  // Starts on a free port (first call) or on the same port and directory (a restart).
  // Returns false and fills `why` when the script fails.
  bool start(std::string& why);
  // Stops the broker (SIGTERM, then SIGKILL after 30 s). Idempotent.
  void stop();
  // "127.0.0.1:PORT", valid after start().
  const std::string& bootstrap() const { return bootstrap_; }

 private:
  std::string dir_;
  std::string bootstrap_;
  int port_ = 0;
  bool running_ = false;
};

}  // namespace parley::test
