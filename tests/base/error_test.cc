#include "sluice/base/error.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice {
namespace {

TEST(Result, HoldsValueOrError) {
  Result<int> good = 42;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  EXPECT_FALSE(good.error());

  Result<int> bad = Errc::kPoolLimit;
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), make_error_code(Errc::kPoolLimit));
  EXPECT_EQ(bad.error().message(), "buffer pool memory limit reached");
}

TEST(Result, CarriesSystemErrors) {
  Result<std::string> r = errno_code(ECONNRESET);
  EXPECT_EQ(r.error(), std::errc::connection_reset);
}

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  Status t = Errc::kTimeout;
  EXPECT_FALSE(t.ok());
  EXPECT_EQ(t.error().category().name(), std::string("sluice"));
}

}  // namespace
}  // namespace sluice
