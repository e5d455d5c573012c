#include "sentinel.h"

#include <sstream>
#include <thread>

#include "support/netns.h"
#include "support/redis_conn.h"

namespace resec::bench {

using std::chrono::milliseconds;

namespace {

// A sentinel that answers, answers within a millisecond or two; 100 ms bounds
// what a frozen or cut-off one costs the client before it asks the next.
constexpr milliseconds kSentinelTimeout{100};

class SentinelMasterSource : public testing::MasterSource {
 public:
  explicit SentinelMasterSource(std::vector<testing::Endpoint> sentinels) : sentinels_(std::move(sentinels)) {}

  std::optional<Address> Next(const std::stop_token& stop) override {
    std::this_thread::sleep_for(kSentinelPollInterval);
    for (size_t tries = 0; tries < sentinels_.size() && !stop.stop_requested(); ++tries) {
      const testing::Endpoint& s = sentinels_[preferred_];
      auto r = testing::RedisOnce(s.host, s.port, {"SENTINEL", "get-master-addr-by-name", kSentinelMasterName},
                                  kSentinelTimeout);
      if (r.ok()) return SentinelAddress(*r);
      preferred_ = (preferred_ + 1) % sentinels_.size();
    }
    return std::nullopt;
  }

 private:
  const std::vector<testing::Endpoint> sentinels_;
  size_t preferred_ = 0;
};

}  // namespace

std::string SentinelConf(const SentinelConfig& c) {
  std::ostringstream conf;
  conf << "port " << c.port << "\n"
       << "bind";
  for (const std::string& b : c.bind) conf << " " << b;
  conf << "\n"
       // The rig's hosts are guarded by their network, not protected mode
       // (as its Redis are).
       << "protected-mode no\n"
       << "daemonize no\n"
       << "dir " << c.dir.string() << "\n"
       << "sentinel monitor " << kSentinelMasterName << " " << c.master_host << " " << c.master_port << " "
       << kSentinelQuorum << "\n";
  for (const Setting& st : SettingsFor(SystemKind::kSentinel, c.mode)) {
    conf << "sentinel " << st.name << " " << kSentinelMasterName << " " << st.value << "\n";
  }
  return conf.str();
}

std::map<std::string, std::string> SentinelPairs(const std::string& flat) {
  std::map<std::string, std::string> out;
  std::istringstream in(flat);
  std::string k, v;
  while (std::getline(in, k) && std::getline(in, v)) out[k] = v;
  return out;
}

bool SentinelKnowsGroup(const std::string& master_reply, int size) {
  auto f = SentinelPairs(master_reply);
  const std::string others = std::to_string(size - 1);
  return f["num-other-sentinels"] == others && f["num-slaves"] == others;
}

std::optional<testing::MasterSource::Address> SentinelAddress(const std::string& reply) {
  const auto nl = reply.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  const std::string port = reply.substr(nl + 1);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return testing::MasterSource::Address{reply.substr(0, nl), std::stoi(port)};
}

std::unique_ptr<testing::MasterSource> MakeSentinelMasterSource(std::vector<testing::Endpoint> sentinels) {
  return std::make_unique<SentinelMasterSource>(std::move(sentinels));
}

}  // namespace resec::bench
