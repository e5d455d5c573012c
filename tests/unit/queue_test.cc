#include "resec/queue.h"

#include <gtest/gtest.h>

#include <thread>

namespace resec {
namespace {

TEST(BoundedQueue, PushFailsWhenFull) {
  BoundedQueue<int> q(2);
  EXPECT_TRUE(q.Push(1));
  EXPECT_TRUE(q.Push(2));
  EXPECT_FALSE(q.Push(3));
  EXPECT_EQ(q.Pop(), 1);
}

TEST(BoundedQueue, CoalesceKeepsNewest) {
  BoundedQueue<int> q(2);
  q.PushCoalesce(1);
  q.PushCoalesce(2);
  q.PushCoalesce(3);
  EXPECT_EQ(q.dropped(), 1u);
  EXPECT_EQ(q.Pop(), 2);
  EXPECT_EQ(q.Pop(), 3);
}

TEST(BoundedQueue, CloseDrainsThenEnds) {
  BoundedQueue<int> q(4);
  EXPECT_TRUE(q.Push(7));
  q.Close();
  EXPECT_FALSE(q.Push(8));
  EXPECT_FALSE(q.PushCoalesce(9));
  EXPECT_EQ(q.Pop(), 7);
  EXPECT_EQ(q.Pop(), std::nullopt);
}

TEST(BoundedQueue, CloseWakesBlockedConsumer) {
  BoundedQueue<int> q(1);
  std::optional<int> got = 42;
  std::thread consumer([&] { got = q.Pop(); });
  q.Close();
  consumer.join();
  EXPECT_EQ(got, std::nullopt);
}

TEST(BoundedQueue, TryPopForTimesOut) {
  BoundedQueue<int> q(1);
  EXPECT_EQ(q.TryPopFor(std::chrono::milliseconds(5)), std::nullopt);
}

TEST(BoundedQueue, ManyProducersOneConsumer) {
  BoundedQueue<int> q(1000);
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) ASSERT_TRUE(q.Push(i));
    });
  }
  int count = 0;
  while (count < 800) {
    if (q.TryPopFor(std::chrono::seconds(5))) ++count;
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(count, 800);
}

}  // namespace
}  // namespace resec
