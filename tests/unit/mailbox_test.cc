// Mailbox: the newest state per kind, commands never dropped, one wake-up
// per burst, and an extra descriptor waited for at the same time.
#include "resec/mailbox.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <variant>

namespace resec {
namespace {

using namespace std::chrono_literals;

using Box = Mailbox<std::variant<int, std::string>, std::string>;

TEST(Mailbox, KeepsTheNewestStateOfEachKindOnly) {
  Box box;
  EXPECT_TRUE(box.Post(1));
  EXPECT_TRUE(box.Post(std::string("a")));
  EXPECT_TRUE(box.Post(2));  // replaces 1, not "a"
  Box::Batch b = box.TakeAll();
  ASSERT_EQ(b.states.size(), 2u);
  // Oldest arrival first: "a" came before the 2 that replaced 1.
  EXPECT_EQ(std::get<std::string>(b.states[0]), "a");
  EXPECT_EQ(std::get<int>(b.states[1]), 2);
  EXPECT_TRUE(box.TakeAll().empty());
}

TEST(Mailbox, ABurstOfOneKindNeverPushesOutAnother) {
  Box box;
  box.Post(std::string("consul"));
  for (int i = 0; i < 10000; ++i) box.Post(i);
  Box::Batch b = box.TakeAll();
  ASSERT_EQ(b.states.size(), 2u);
  EXPECT_EQ(std::get<std::string>(b.states[0]), "consul");
  EXPECT_EQ(std::get<int>(b.states[1]), 9999);
}

TEST(Mailbox, CommandsAreNeverDroppedAndKeepTheirOrder) {
  Box box;
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(box.Send("c" + std::to_string(i)));
  Box::Batch b = box.TakeAll();
  ASSERT_EQ(b.commands.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(b.commands[i], "c" + std::to_string(i));
}

TEST(Mailbox, WaitReturnsAtOnceWhenSomethingIsPending) {
  Box box;
  box.Post(7);
  const auto start = SteadyClock::now();
  Box::Batch b = box.Wait(10s);
  EXPECT_LT(SteadyClock::now() - start, 100ms);
  ASSERT_EQ(b.states.size(), 1u);
}

TEST(Mailbox, WaitWakesOnAPostFromAnotherThread) {
  Box box;
  std::thread poster([&] {
    std::this_thread::sleep_for(50ms);
    box.Post(3);
  });
  Box::Batch b = box.Wait(10s);
  poster.join();
  ASSERT_EQ(b.states.size(), 1u);
  EXPECT_EQ(std::get<int>(b.states[0]), 3);
}

// A quiet post waits for the next wake-up (or the timeout) and goes with it,
// newest value of its kind; a loud one it replaces stays due.
TEST(Mailbox, AQuietPostWakesNobodyButGoesWithTheNextWakeUp) {
  Box box;
  box.PostQuietly(1);
  auto start = SteadyClock::now();
  Box::Batch b = box.Wait(50ms);
  EXPECT_GE(SteadyClock::now() - start, 50ms) << "a quiet post alone must not end the wait";
  ASSERT_EQ(b.states.size(), 1u) << "handed over when the wait times out";
  EXPECT_EQ(std::get<int>(b.states[0]), 1);

  box.PostQuietly(2);
  std::thread poster([&] {
    std::this_thread::sleep_for(30ms);
    box.Post(std::string("consul"));
  });
  start = SteadyClock::now();
  b = box.Wait(10s);
  poster.join();
  EXPECT_LT(SteadyClock::now() - start, 5s);
  ASSERT_EQ(b.states.size(), 2u);
  EXPECT_EQ(std::get<int>(b.states[0]), 2);
  EXPECT_EQ(std::get<std::string>(b.states[1]), "consul");

  box.Post(3);
  box.PostQuietly(4);
  start = SteadyClock::now();
  b = box.Wait(10s);
  EXPECT_LT(SteadyClock::now() - start, 5s) << "the loud post it replaced is still due";
  ASSERT_EQ(b.states.size(), 1u);
  EXPECT_EQ(std::get<int>(b.states[0]), 4);
}

TEST(Mailbox, WaitTimesOutEmpty) {
  Box box;
  const auto start = SteadyClock::now();
  Box::Batch b = box.Wait(30ms);
  EXPECT_GE(SteadyClock::now() - start, 30ms);
  EXPECT_TRUE(b.empty());
  EXPECT_FALSE(b.closed);
}

TEST(Mailbox, CloseEndsWaitingAndRefusesMore) {
  Box box;
  box.Post(1);
  std::thread closer([&] {
    std::this_thread::sleep_for(20ms);
    box.Close();
  });
  Box::Batch b = box.Wait(10s);  // the pending state first
  ASSERT_EQ(b.states.size(), 1u);
  b = box.Wait(10s);
  closer.join();
  EXPECT_TRUE(b.closed);
  EXPECT_FALSE(box.Post(2));
  EXPECT_FALSE(box.Send("late"));
}

TEST(Mailbox, WaitsForAnExtraDescriptorToo) {
  Box box;
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  const uint64_t one = 1;
  ASSERT_EQ(::write(fd, &one, sizeof(one)), static_cast<ssize_t>(sizeof(one)));
  Box::Batch b = box.Wait(10s, fd);
  EXPECT_TRUE(b.extra_ready);
  EXPECT_TRUE(b.empty());
  ::close(fd);
}

}  // namespace
}  // namespace resec
