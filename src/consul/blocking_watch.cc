// BlockingWatch: see include/resec/consul/blocking_watch.h.
#include "resec/consul/blocking_watch.h"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>

#include <spdlog/spdlog.h>

#include "resec/clock.h"

namespace resec::consul {
namespace {

using std::chrono::milliseconds;

// A blocking query that returns faster than this without a new index did
// not block.
constexpr milliseconds kMinQueryInterval{50};
constexpr milliseconds kBackoffStart{100};
constexpr milliseconds kBackoffMax{2000};

milliseconds NextBackoff(milliseconds current) {
  return current.count() == 0 ? kBackoffStart : std::min(current * 2, kBackoffMax);
}

// Sleeps `d` unless stop is requested first.
void Sleep(const std::stop_token& stop, milliseconds d) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait_for(lock, stop, d, [] { return false; });
}

}  // namespace

BlockingWatch::BlockingWatch(std::string name, std::unique_ptr<Client> client, Read read)
    : name_(std::move(name)), client_(std::move(client)), read_(std::move(read)) {}

BlockingWatch::~BlockingWatch() { Stop(); }

void BlockingWatch::Start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) {
    pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
    Run(std::move(stop));
  });
}

void BlockingWatch::Stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  client_->Cancel();  // the one cross-thread call Client allows
  thread_.join();
}

void BlockingWatch::Run(std::stop_token stop) {
  try {
    uint64_t index = 0;
    milliseconds backoff{0};
    milliseconds quick{0};  // backoff for answers that did not block
    while (!stop.stop_requested()) {
      QueryOptions q;
      q.index = index;
      q.wait = kBlockingWait;
      q.consistent = true;
      const auto started = SteadyClock::now();
      StatusOr<uint64_t> r = read_(*client_, q);
      if (!r.ok()) {
        if (r.status().code() == StatusCode::kCancelled) break;
        // A Consul that restarted has a smaller index: a stale one would park
        // the next query for the whole wait. Start over with a plain read.
        index = 0;
        backoff = NextBackoff(backoff);
        Sleep(stop, backoff);
        continue;
      }
      backoff = milliseconds(0);
      const bool did_not_block = q.index != 0 && *r == index && SteadyClock::now() - started < kMinQueryInterval;
      index = *r < index ? 0 : std::max<uint64_t>(*r, 1);
      // A real blocking answer or a change resets the pace.
      quick = did_not_block ? NextBackoff(quick) : milliseconds(0);
      if (quick.count() > 0) Sleep(stop, quick);
    }
  } catch (const std::exception& e) {
    spdlog::error("consul: {} stopped by an unexpected error: {}", name_, e.what());
  }
}

}  // namespace resec::consul
