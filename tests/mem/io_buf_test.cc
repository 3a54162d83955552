#include "sluice/mem/io_buf.h"

#include <gtest/gtest.h>

#include "sluice/mem/buffer_pool.h"

namespace sluice::mem {
namespace {

IoBuf take(BufferPool& pool, std::size_t n) { return std::move(pool.allocate(n).value()); }

TEST(IoBuf, DefaultConstructedHoldsNoBlock) {
  IoBuf b;
  EXPECT_FALSE(b);
  EXPECT_TRUE(b.empty_block());
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.tailroom(), 0u);
  b.reset();  // harmless
}

TEST(IoBuf, RegionsFollowAppendPopAndCommit) {
  BufferPool pool;
  IoBuf b = take(pool, 100);
  ASSERT_TRUE(b);
  EXPECT_EQ(b.capacity(), 4096u);
  EXPECT_EQ(b.append("hello world"), 11u);
  EXPECT_EQ(b.size(), 11u);
  EXPECT_EQ(b.headroom(), 0u);
  EXPECT_EQ(b.tailroom(), 4096u - 11u);
  b.pop(6);
  EXPECT_EQ(b.view(), "world");
  EXPECT_EQ(b.headroom(), 6u);
  EXPECT_EQ(b.tailroom(), 4096u - 11u);
  std::memcpy(b.tail(), "!!", 2);
  b.commit(2);
  EXPECT_EQ(b.view(), "world!!");
  EXPECT_EQ(b.headroom() + b.size() + b.tailroom(), b.capacity());
}

TEST(IoBuf, PoppingEverythingRewindsToTheBlockStart) {
  BufferPool pool;
  IoBuf b = take(pool, 1);
  b.append("abc");
  b.pop(3);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.headroom(), 0u);
  EXPECT_EQ(b.tailroom(), b.capacity());
}

TEST(IoBuf, AdjustMovesUnconsumedBytesToTheFront) {
  BufferPool pool;
  IoBuf b = take(pool, 1);
  b.append("0123456789");
  b.pop(4);
  const std::size_t tail_before = b.tailroom();
  b.adjust();
  EXPECT_EQ(b.headroom(), 0u);
  EXPECT_EQ(b.view(), "456789");
  EXPECT_EQ(b.tailroom(), tail_before + 4);
}

TEST(IoBuf, ClearForgetsBytesButKeepsTheBlock) {
  BufferPool pool;
  IoBuf b = take(pool, 1);
  b.append("abc");
  b.pop(1);
  b.clear();
  EXPECT_TRUE(b);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.headroom(), 0u);
  EXPECT_EQ(pool.stats().classes[0].in_use, 1u);
}

TEST(IoBuf, AppendCopiesOnlyWhatFits) {
  BufferPool pool;
  IoBuf b = take(pool, 1);
  std::string big(5000, 'z');
  EXPECT_EQ(b.append(big), 4096u);
  EXPECT_EQ(b.tailroom(), 0u);
  EXPECT_EQ(b.append("more"), 0u);
  EXPECT_EQ(b.size(), 4096u);
}

TEST(IoBuf, MoveTransfersTheBlockAndEmptiesTheSource) {
  BufferPool pool;
  IoBuf a = take(pool, 1);
  a.append("payload");
  const std::byte* data = a.data();
  IoBuf b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.view(), "payload");
  EXPECT_EQ(pool.stats().classes[0].in_use, 1u);
}

TEST(IoBuf, MoveAssignmentReturnsTheOverwrittenBlock) {
  BufferPool pool;
  IoBuf a = take(pool, 1);
  IoBuf b = take(pool, 20000);
  EXPECT_EQ(pool.stats().classes[2].in_use, 1u);
  b = std::move(a);
  EXPECT_EQ(pool.stats().classes[2].in_use, 0u);
  EXPECT_EQ(pool.stats().classes[0].in_use, 1u);
  EXPECT_EQ(b.capacity(), 4096u);
  IoBuf& same = b;
  b = std::move(same);  // self-move keeps the block
  EXPECT_TRUE(b);
}

TEST(IoBuf, DestructionReturnsTheBlockToThePool) {
  BufferPool pool;
  {
    IoBuf b = take(pool, 1);
    EXPECT_EQ(pool.stats().classes[0].in_use, 1u);
  }
  const PoolStats s = pool.stats();
  EXPECT_EQ(s.classes[0].in_use, 0u);
  EXPECT_EQ(s.classes[0].free, 1u);
}

TEST(IoBuf, ResetReturnsTheBlockNow) {
  BufferPool pool;
  IoBuf b = take(pool, 1);
  b.append("x");
  b.reset();
  EXPECT_FALSE(b);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(pool.stats().classes[0].in_use, 0u);
}

}  // namespace
}  // namespace sluice::mem
