#include <utility>

#include "bus/bus.h"

namespace parley::bus {
namespace {

class local_bus final : public bus {
 public:
  void set_subscriber(subscriber s) override { subscriber_ = std::move(s); }
  result<void> start() override { return success(); }
  void publish(record_ptr r) override {
    if (subscriber_) subscriber_(r);
  }
  std::string state() const override { return "local"; }
  void stop() override {}

 private:
  subscriber subscriber_;
};

}  // namespace

std::unique_ptr<bus> make_local_bus() { return std::make_unique<local_bus>(); }

}  // namespace parley::bus
