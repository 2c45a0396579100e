// parley-baseline [--listen HOST:PORT] [--threads N]: see server.h.
#include <cstdlib>
#include <iostream>
#include <string>

#include "baseline/server.h"

int main(int argc, char** argv) {
  parley::baseline::server_options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--listen" || a == "--threads") && i + 1 < argc) {
      std::string v = argv[++i];
      if (a == "--threads") {
        o.threads = std::atoi(v.c_str());
        continue;
      }
      auto colon = v.rfind(':');
      if (colon == std::string::npos) {
        std::cerr << "parley-baseline: --listen wants HOST:PORT\n";
        return 2;
      }
      o.listen_host = v.substr(0, colon);
      o.listen_port = static_cast<std::uint16_t>(std::atoi(v.c_str() + colon + 1));
    } else {
      std::cerr << "usage: parley-baseline [--listen HOST:PORT] [--threads N]\n";
      return 2;
    }
  }
  return parley::baseline::run(o);
}
