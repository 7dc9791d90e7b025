// A minimal parallel-for: rows are handed out in fixed-size chunks from an
// atomic counter so that uneven rows (N from 1 to 1e5) balance across threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace inferplan {

// rows_per_thread: the rows that pay for a thread's start-up (fewer for costly rows).
inline int resolve_threads(int requested, std::int64_t rows, std::int64_t rows_per_thread = 2048) {
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  if (hw < 1) hw = 1;
  int t = requested > 0 ? requested : hw;
  // Below a few thousand rows the thread start-up costs more than it saves.
  std::int64_t useful = std::max<std::int64_t>(1, rows / rows_per_thread);
  return static_cast<int>(std::min<std::int64_t>(t, useful));
}

// fn(worker, begin, end) is called on disjoint ranges covering [0, rows).
template <class Fn>
void parallel_for(std::int64_t rows, int threads, Fn&& fn, std::int64_t rows_per_thread = 2048) {
  threads = resolve_threads(threads, rows, rows_per_thread);
  if (threads <= 1) {
    fn(0, std::int64_t{0}, rows);
    return;
  }
  const std::int64_t kChunk = std::min<std::int64_t>(1024, rows_per_thread);
  std::atomic<std::int64_t> next{0};
  auto work = [&](int worker) {
    for (;;) {
      std::int64_t begin = next.fetch_add(kChunk);
      if (begin >= rows) break;
      fn(worker, begin, std::min(rows, begin + kChunk));
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads - 1));
  for (int w = 1; w < threads; ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& th : pool) th.join();
}

}  // namespace inferplan
