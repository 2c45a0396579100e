#include "raw_jwt.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <chrono>

namespace parley::itest {

std::string base64url(std::string_view bytes) {
  static constexpr char k_alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(k_alphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(k_alphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

std::string jwt_hs256(std::string_view header_json, std::string_view payload_json,
                      std::string_view secret) {
  std::string input = base64url(header_json) + "." + base64url(payload_json);
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t mac_len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof mac,
            &mac_len);
  return input + "." + base64url({reinterpret_cast<const char*>(mac), mac_len});
}

std::string jwt_alg_none(std::string_view payload_json) {
  return base64url(R"({"alg":"none","typ":"JWT"})") + "." + base64url(payload_json) + ".";
}

namespace {

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

rsa_key_pair make_rsa_key() {
  rsa_key_pair out;
  EVP_PKEY* key = EVP_RSA_gen(2048);
  if (key == nullptr) return out;
  BIO* pub = BIO_new(BIO_s_mem());
  BIO* priv = BIO_new(BIO_s_mem());
  if (PEM_write_bio_PUBKEY(pub, key) == 1) out.public_pem = bio_text(pub);
  if (PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr) == 1) {
    out.private_pem = bio_text(priv);
  }
  BIO_free(pub);
  BIO_free(priv);
  EVP_PKEY_free(key);
  return out;
}

std::string jwt_rs256(std::string_view header_json, std::string_view payload_json,
                      const std::string& private_pem) {
  BIO* bio = BIO_new_mem_buf(private_pem.data(), static_cast<int>(private_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return {};
  std::string input = base64url(header_json) + "." + base64url(payload_json);
  std::string sig(static_cast<std::size_t>(EVP_PKEY_get_size(key)), '\0');
  std::size_t sig_len = sig.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (!ok) return {};
  sig.resize(sig_len);
  return input + "." + base64url(sig);
}

std::int64_t unix_s(std::int64_t delta_s) {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count() + delta_s;
}

std::int64_t unix_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace parley::itest
