// Micro-benchmarks of JWT verification, done once per connection before the upgrade (the
// `connect` scenario's dominant cost): HS256 (HMAC-SHA256) and ES256 (ECDSA P-256).
#include <benchmark/benchmark.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <stdexcept>

#include "auth/base64url.h"
#include "auth/jwt.h"

namespace {

using namespace parley;

constexpr std::int64_t k_now_ms = 1'732'958'812'000;
constexpr std::int64_t k_exp_s = k_now_ms / 1000 + 3600;

const unsigned char* u8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(what);
}

// An ES256 key pair: the public key as PEM, and a token signed with the private key.
struct es256_fixture {
  std::string pem;
  std::string token;

  es256_fixture() {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), &EVP_PKEY_free);
    check(key != nullptr, "keygen");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    check(PEM_write_bio_PUBKEY(bio.get(), key.get()) == 1, "PEM");
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    pem.assign(data, static_cast<std::size_t>(len));

    std::string input =
        auth::base64url_encode(R"({"alg":"ES256","typ":"JWT"})") + "." +
        auth::base64url_encode(R"({"sub":"alice","exp":)" + std::to_string(k_exp_s) + "}");
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    check(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1, "init");
    std::size_t n = 0;
    check(EVP_DigestSign(ctx.get(), nullptr, &n, u8(input), input.size()) == 1, "size");
    std::string der(n, '\0');
    check(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &n, u8(input),
                         input.size()) == 1,
          "sign");
    const unsigned char* p = u8(der);
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
        d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(n)), &ECDSA_SIG_free);
    check(sig != nullptr, "der");
    std::string raw(64, '\0');
    auto* out = reinterpret_cast<unsigned char*>(raw.data());
    BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32);
    token = input + "." + auth::base64url_encode(raw);
  }
};

void BM_jwt_verify_hs256(benchmark::State& state) {
  auth::verifier_options o;
  o.hs256_secret = "bench-secret-0123456789abcdef0123456789abcdef";
  auto v = auth::verifier::make(o).value();
  auto token = auth::mint_hs256(*o.hs256_secret, "alice", k_exp_s);
  for (auto _ : state) {
    auto c = v->verify(token, k_now_ms);
    if (!c) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_jwt_verify_hs256);

void BM_jwt_verify_es256(benchmark::State& state) {
  es256_fixture f;
  auth::verifier_options o;
  o.public_key_pem = f.pem;
  auto v = auth::verifier::make(o).value();
  for (auto _ : state) {
    auto c = v->verify(f.token, k_now_ms);
    if (!c) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_jwt_verify_es256);

}  // namespace
