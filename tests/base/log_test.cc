#include "sluice/base/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace sluice {
namespace {

std::string drain(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::pipe2(fds_, O_NONBLOCK), 0);
    log::set_fd(fds_[1]);
  }
  void TearDown() override {
    log::set_fd(-1);
    log::set_level(log::Level::kInfo);
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  int fds_[2] = {-1, -1};
};

TEST_F(LogTest, WritesOneLineAtOrAboveLevel) {
  log::set_level(log::Level::kWarn);
  SLUICE_LOG(kInfo, "hidden %d", 1);
  SLUICE_LOG(kError, "shown %d", 2);
  std::string out = drain(fds_[0]);
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("[error]"), std::string::npos);
  EXPECT_NE(out.find("shown 2\n"), std::string::npos);
}

TEST_F(LogTest, RateLimitedSiteLogsOncePerInterval) {
  for (int i = 0; i < 100; ++i) SLUICE_LOG_EVERY_MS(kWarn, 60'000, "flood %d", i);
  std::string out = drain(fds_[0]);
  EXPECT_NE(out.find("flood 0"), std::string::npos);
  EXPECT_EQ(out.find("flood 1"), std::string::npos);
}

TEST_F(LogTest, TruncatesLongLinesButEndsThem) {
  std::string big(5000, 'x');
  SLUICE_LOG(kWarn, "%s", big.c_str());
  std::string out = drain(fds_[0]);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  EXPECT_LT(out.size(), 1100u);
}

}  // namespace
}  // namespace sluice
