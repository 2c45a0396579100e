#include "base/thread_name.h"

#include <pthread.h>

#include <cstring>

namespace parley {

void name_thread(std::thread& t, const char* name) noexcept {
  char buf[16];
  std::strncpy(buf, name, sizeof buf - 1);
  buf[sizeof buf - 1] = '\0';
  (void)pthread_setname_np(t.native_handle(), buf);
}

}  // namespace parley
