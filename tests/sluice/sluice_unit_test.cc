// The sluice program's parts, without processes: path mapping, ranges,
// conditionals, escaping, configuration errors, status rendering.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "access_log.h"
#include "config.h"
#include "mime.h"
#include "static_files.h"
#include "status.h"

namespace {

using namespace sluice::app;
namespace fs = std::filesystem;

std::string norm(std::string_view raw, bool* trailing = nullptr) {
  std::string out;
  bool t = false;
  if (!normalize_request_path(raw, out, t)) return "<400>";
  if (trailing) *trailing = t;
  return out;
}

TEST(PathMapping, NormalisesDotsAndSlashes) {
  EXPECT_EQ(norm("/"), "");
  EXPECT_EQ(norm("/a/b.txt"), "a/b.txt");
  EXPECT_EQ(norm("//a///./b/../c"), "a/c");
  EXPECT_EQ(norm("/a%20b"), "a b");
  EXPECT_EQ(norm("/a/%2e%2e/b"), "b");
  bool t = false;
  EXPECT_EQ(norm("/dir/", &t), "dir");
  EXPECT_TRUE(t);
  EXPECT_EQ(norm("/dir/.", &t), "dir");
  EXPECT_TRUE(t);
  EXPECT_EQ(norm("/dir", &t), "dir");
  EXPECT_FALSE(t);
}

TEST(PathMapping, RejectsClimbingNulBadEscapesAndOverlongUtf8) {
  EXPECT_EQ(norm("/../x"), "<400>");
  EXPECT_EQ(norm("/a/../../x"), "<400>");
  EXPECT_EQ(norm("/%2e%2e/x"), "<400>");
  EXPECT_EQ(norm("/..%2fx"), "<400>");
  EXPECT_EQ(norm("/a%00b"), "<400>");
  EXPECT_EQ(norm("/a%zz"), "<400>");
  EXPECT_EQ(norm("/a%2"), "<400>");
  EXPECT_EQ(norm("/%c0%ae%c0%ae/x"), "<400>");  // overlong "."
  EXPECT_EQ(norm("/%e0%80%af"), "<400>");       // overlong "/"
  EXPECT_EQ(norm("/%ed%a0%80"), "<400>");       // surrogate
  EXPECT_EQ(norm("/caf%c3%a9"), "caf\xc3\xa9");
  EXPECT_EQ(norm("x"), "<400>");
  // A backslash is an ordinary byte on Linux: a name, never a separator.
  EXPECT_EQ(norm("/..%5cx"), "..\\x");
}

TEST(Ranges, SingleRangesAndUnsatisfiable) {
  ByteRange r;
  EXPECT_EQ(parse_range("bytes=0-9", 100, r), RangeKind::kSatisfiable);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 9u);
  EXPECT_EQ(parse_range("bytes=90-", 100, r), RangeKind::kSatisfiable);
  EXPECT_EQ(r.last, 99u);
  EXPECT_EQ(parse_range("bytes=-10", 100, r), RangeKind::kSatisfiable);
  EXPECT_EQ(r.first, 90u);
  EXPECT_EQ(parse_range("bytes=-500", 100, r), RangeKind::kSatisfiable);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(parse_range("bytes=50-1000", 100, r), RangeKind::kSatisfiable);
  EXPECT_EQ(r.last, 99u);
  EXPECT_EQ(parse_range("bytes=100-", 100, r), RangeKind::kUnsatisfiable);
  EXPECT_EQ(parse_range("bytes=-0", 100, r), RangeKind::kUnsatisfiable);
  EXPECT_EQ(parse_range("bytes=0-0", 0, r), RangeKind::kUnsatisfiable);
  EXPECT_EQ(parse_range("bytes=5-1", 100, r), RangeKind::kIgnore);
  EXPECT_EQ(parse_range("bytes=0-1,5-6", 100, r), RangeKind::kIgnore);
  EXPECT_EQ(parse_range("items=0-1", 100, r), RangeKind::kIgnore);
  EXPECT_EQ(parse_range("bytes=x-1", 100, r), RangeKind::kIgnore);
}

TEST(Conditionals, EtagListsCompareWeakly) {
  EXPECT_TRUE(etag_list_matches("\"a-1\"", "\"a-1\""));
  EXPECT_TRUE(etag_list_matches("W/\"a-1\"", "\"a-1\""));
  EXPECT_TRUE(etag_list_matches("\"x\", \"a-1\"", "\"a-1\""));
  EXPECT_TRUE(etag_list_matches("*", "\"a-1\""));
  EXPECT_FALSE(etag_list_matches("\"a-2\"", "\"a-1\""));
}

TEST(Escaping, HtmlAndUrl) {
  EXPECT_EQ(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  EXPECT_EQ(encode_path("a b/<c>.txt"), "a%20b/%3Cc%3E.txt");
}

TEST(Mime, BuiltinExtraAndDefault) {
  MimeTypes m({{"wasm", "application/x-custom"}, {"foo", "text/x-foo"}},
              "application/octet-stream");
  EXPECT_EQ(m.lookup("a/b.CSS"), "text/css; charset=utf-8");
  EXPECT_EQ(m.lookup("x.foo"), "text/x-foo");
  EXPECT_EQ(m.lookup("x.wasm"), "application/x-custom");
  EXPECT_EQ(m.lookup("noext"), "application/octet-stream");
  EXPECT_EQ(m.lookup("dir.d/noext"), "application/octet-stream");
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-unit-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "root");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::optional<std::string> load(const std::string& text, Config& c, Overrides o = {}) {
    fs::path p = dir_ / "s.toml";
    std::ofstream(p) << text;
    return load_config(p.string(), o, c);
  }
  fs::path dir_;
};

TEST_F(ConfigTest, ValidFileAndRelativeRoot) {
  Config c;
  auto err = load(
      "listen = [\"127.0.0.1:9000\", \"[::1]:9001\"]\nworkers = 3\nroot = \"root\"\n"
      "[timeouts]\nheader = \"5s\"\nkeepalive = 500\n[limits]\nbody_size = \"2m\"\n"
      "[status]\nallow = [\"10.0.0.0/8\"]\n",
      c);
  ASSERT_FALSE(err) << *err;
  EXPECT_EQ(c.plan.listen.size(), 2u);
  EXPECT_EQ(c.plan.workers, 3);
  EXPECT_EQ(c.root, (dir_ / "root").string());
  EXPECT_EQ(c.header_timeout.count(), 5000);
  EXPECT_EQ(c.keepalive_timeout.count(), 500'000);
  EXPECT_EQ(c.limits.max_body_size, 2u << 20);
  ASSERT_EQ(c.status_allow.size(), 1u);
}

TEST_F(ConfigTest, ErrorsNameFileLineAndKey) {
  Config c;
  auto e1 = load("workers = 2\n\nbogus = 1\n", c);
  ASSERT_TRUE(e1);
  EXPECT_NE(e1->find("s.toml:3:"), std::string::npos) << *e1;
  EXPECT_NE(e1->find("bogus: unknown key"), std::string::npos) << *e1;
  auto e2 = load("[timeouts]\nheader = true\n", c);
  ASSERT_TRUE(e2);
  EXPECT_NE(e2->find(":2:"), std::string::npos) << *e2;
  EXPECT_NE(e2->find("timeouts.header"), std::string::npos) << *e2;
  auto e3 = load("\nworkers = 0\n", c);
  ASSERT_TRUE(e3);
  EXPECT_NE(e3->find(":2:"), std::string::npos) << *e3;
  auto e4 = load("[limits]\nrequests_per_connection = \"many\"\n", c);
  ASSERT_TRUE(e4);
  EXPECT_NE(e4->find("limits.requests_per_connection"), std::string::npos) << *e4;
  auto e5 = load("listen = \"nowhere\"\n", c);
  ASSERT_TRUE(e5);
  EXPECT_NE(e5->find(":1:"), std::string::npos) << *e5;
  auto e6 = load("root = \"missing\"\n", c);
  ASSERT_TRUE(e6);
  EXPECT_NE(e6->find("root"), std::string::npos) << *e6;
  auto e7 = load("workers = = 1\n", c);  // TOML syntax
  ASSERT_TRUE(e7);
  EXPECT_NE(e7->find("s.toml:1:"), std::string::npos) << *e7;
  auto e8 = load("[status]\nallow = [\"10.0.0.0/40\"]\n", c);
  ASSERT_TRUE(e8);
  EXPECT_NE(e8->find("status.allow"), std::string::npos) << *e8;
}

TEST_F(ConfigTest, OverridesWin) {
  Config c;
  Overrides o;
  o.listen = {"127.0.0.1:9100"};
  o.workers = "2";
  o.root = (dir_ / "root").string();
  auto err = load("listen = \"127.0.0.1:9000\"\nworkers = 5\n", c, o);
  ASSERT_FALSE(err) << *err;
  EXPECT_EQ(c.plan.listen.at(0).port(), 9100);
  EXPECT_EQ(c.plan.workers, 2);
  o.workers = "zero";
  EXPECT_TRUE(load("", c, o));
}

TEST(AddressRanges, MatchPrefixes) {
  auto r = parse_address_range("10.1.0.0/16");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->contains(*sluice::net::InetAddress::parse("10.1.200.3:1")));
  EXPECT_FALSE(r->contains(*sluice::net::InetAddress::parse("10.2.0.1:1")));
  auto v6 = parse_address_range("::1");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*sluice::net::InetAddress::parse("[::1]:1")));
  EXPECT_FALSE(v6->contains(*sluice::net::InetAddress::parse("127.0.0.1:1")));
  EXPECT_FALSE(parse_address_range("1.2.3.4/33"));
  EXPECT_FALSE(parse_address_range("nope"));
}

TEST(Status, RendersEveryFormat) {
  StatusFigures f;
  f.active = 3;
  f.accepted = 10;
  f.handled = 10;
  f.requests = 42;
  f.pool.classes[0].in_use = 7;
  std::string text = render_status_text(f);
  EXPECT_NE(text.find("Active connections: 3"), std::string::npos);
  EXPECT_NE(text.find(" 10 10 42"), std::string::npos);
  EXPECT_NE(render_status_json(f).find("\"requests\":42"), std::string::npos);
  std::string prom = render_prometheus(f);
  EXPECT_NE(prom.find("sluice_http_requests_total 42"), std::string::npos);
  EXPECT_NE(prom.find("sluice_pool_blocks_in_use{class=\"4096\"} 7"), std::string::npos);
}

TEST(AccessLogFormat, CombinedWithTimeAndEscapes) {
  AccessLog::RequestInfo info{true, "GET", "/a?b=1", "http://r/", "evil\"agent\n", 1};
  sluice::http::LogRecord rec{nullptr, 200, 1234, 2500, nullptr};
  std::string line;
  AccessLog::format(rec, info, true, 0, line);
  EXPECT_NE(
      line.find("\"GET /a?b=1 HTTP/1.1\" 200 1234 \"http://r/\" \"evil\\x22agent\\x0A\" 0.002\n"),
      std::string::npos)
      << line;
}

}  // namespace
