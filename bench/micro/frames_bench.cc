// Micro-benchmarks of the per-message work on the wire: WebSocket framing (Beast, over an
// in-memory stream pair, client side masking as browsers do), the client frame parser,
// `message` frame serialization (done once per message, shared by every receiver) and the
// bus record codec (once per message per node on Kafka).
#include <benchmark/benchmark.h>

#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "bus/bus.h"
#include "chat/frames.h"
#include "store/store.h"

namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;

const std::string k_send =
    R"({"type":"send","room":"g:0123456789abcdef","text":"hello there, this is a 64 byte message of the bench ok","cid":"1732958812000000.42","rid":"r-17"})";

parley::store::message sample_message() {
  parley::store::message m;
  m.room = "g:0123456789abcdef";
  m.seq = 123456;
  m.id = "01JDQ7ZK3W6M4V2Y8X0T5N9P1R";
  m.sender = "alice";
  m.cid = "1732958812000000.42";
  m.text = "hello there, this is a 64 byte message of the bench ok";
  m.ts = 1732958812123;
  return m;
}

void BM_parse_client_send(benchmark::State& state) {
  for (auto _ : state) {
    auto out = parley::chat::parse_client_frame(k_send);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * k_send.size()));
}
BENCHMARK(BM_parse_client_send);

void BM_message_frame(benchmark::State& state) {
  auto m = sample_message();
  for (auto _ : state) {
    auto f = parley::chat::message_frame(m);
    benchmark::DoNotOptimize(f);
  }
}
BENCHMARK(BM_message_frame);

parley::bus::record sample_record() {
  auto m = sample_message();
  parley::bus::record r;
  r.k = parley::bus::kind::message;
  r.room = m.room;
  r.node = "node-1";
  r.seq = m.seq;
  r.id = m.id;
  r.from = m.sender;
  r.text = m.text;
  r.ts = m.ts;
  r.cid = m.cid;
  return r;
}

void BM_record_encode(benchmark::State& state) {
  auto r = sample_record();
  for (auto _ : state) {
    auto s = parley::bus::encode(r);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_record_encode);

void BM_record_decode(benchmark::State& state) {
  auto s = parley::bus::encode(sample_record());
  for (auto _ : state) {
    auto r = parley::bus::decode(s);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_record_decode);

// One text message written by a WebSocket client (masked) and read by the server side, and
// one written by the server (unmasked) and read by the client: both directions' framing.
void BM_websocket_roundtrip(benchmark::State& state) {
  net::io_context ioc;
  beast::test::stream a(ioc), b(ioc);
  a.connect(b);
  websocket::stream<beast::test::stream&> client(a), server(b);
  // Handshake over the test streams, synchronously from two sides of one io_context.
  server.async_accept([](beast::error_code) {});
  client.async_handshake("localhost", "/ws", [](beast::error_code) {});
  ioc.run();
  ioc.restart();
  client.text(true);
  server.text(true);
  std::string payload(static_cast<std::size_t>(state.range(0)), 'x');
  beast::flat_buffer in_s, in_c;
  for (auto _ : state) {
    client.write(net::buffer(payload));
    server.read(in_s);
    in_s.consume(in_s.size());
    server.write(net::buffer(payload));
    client.read(in_c);
    in_c.consume(in_c.size());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 2 * payload.size()));
}
BENCHMARK(BM_websocket_roundtrip)->Arg(64)->Arg(1024);

}  // namespace
