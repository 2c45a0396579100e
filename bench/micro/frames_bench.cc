// Micro-benchmarks of the per-message work on the wire: WebSocket framing (parleyd's own
// codec: a masked client frame in, a server frame out), the client frame parser,
// `message` frame serialization (done once per message, shared by every receiver) and the
// bus record codec (once per message per node on Kafka).
#include <benchmark/benchmark.h>

#include "bus/bus.h"
#include "chat/frames.h"
#include "store/store.h"
#include "ws/codec.h"

namespace {

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
  r.type = parley::bus::kind::message;
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

// parleyd's WebSocket framing (ws/codec.h): a masked client text frame decoded (header
// parse, unmask, UTF-8 check) and a server text frame encoded into a write buffer: the
// per-frame work of a send and of a delivery.
void BM_ws_frame_decode(benchmark::State& state) {
  std::string payload(static_cast<std::size_t>(state.range(0)), 'x');
  // The client's frame, built once (as a browser would send it: masked).
  std::string wire;
  parley::ws::append_frame(wire, parley::ws::opcode::text, payload);
  wire[1] = static_cast<char>(wire[1] | 0x80);
  const char key[4] = {0x11, 0x22, 0x33, 0x44};
  wire.insert(payload.size() < 126 ? 2 : 4, key, 4);
  std::string buf;
  for (auto _ : state) {
    buf = wire;  // unmasking works in place
    auto* p = reinterpret_cast<std::uint8_t*>(buf.data());
    parley::ws::frame_header h;
    auto st = parley::ws::parse_client_header({p, buf.size()}, 1 << 20, h);
    parley::ws::unmask(p + h.size, static_cast<std::size_t>(h.length), h.mask);
    bool ok = parley::ws::valid_utf8({buf.data() + h.size, static_cast<std::size_t>(h.length)});
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(BM_ws_frame_decode)->Arg(64)->Arg(1024);

void BM_ws_frame_encode(benchmark::State& state) {
  std::string payload(static_cast<std::size_t>(state.range(0)), 'x');
  std::string out;
  out.reserve(payload.size() + 16);
  for (auto _ : state) {
    out.clear();
    parley::ws::append_frame(out, parley::ws::opcode::text, payload);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(BM_ws_frame_encode)->Arg(64)->Arg(1024);

}  // namespace
