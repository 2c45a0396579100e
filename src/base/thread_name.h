#pragma once
// Names a thread for `top -H`, `ps -L`, perf and gdb (Linux: at most 15 characters, longer
// names are cut). Called by the thread's creator right after starting it, so the name is
// there when the constructor that started it returns. Best effort: a failure changes
// nothing else.
#include <thread>

namespace parley {

void name_thread(std::thread& t, const char* name) noexcept;

}  // namespace parley
