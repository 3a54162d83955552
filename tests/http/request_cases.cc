#include "request_cases.h"

#include <limits>

namespace sluice::http::testing {
namespace {

using M = Method;
using F = TargetForm;

class Table {
 public:
  RequestCase& ok(std::string name, std::string input) {
    cases_.push_back(RequestCase{});
    cases_.back().name = std::move(name);
    cases_.back().input = std::move(input);
    return cases_.back();
  }
  // A valid GET / HTTP/1.1 with "Host: a" plus the given header lines.
  RequestCase& get(std::string name, std::string extra_headers) {
    return ok(std::move(name), "GET / HTTP/1.1\r\nHost: a\r\n" + extra_headers + "\r\n")
        .m("GET", M::kGet)
        .t("/")
        .h("Host", "a");
  }
  RequestCase& bad(std::string name, std::string input, int status) {
    RequestCase& c = ok(std::move(name), std::move(input));
    c.status = status;
    return c;
  }
  // An invalid request that differs from a good GET only in its header lines.
  RequestCase& bad_header(std::string name, std::string extra_headers, int status) {
    return bad(std::move(name), "GET / HTTP/1.1\r\nHost: a\r\n" + extra_headers + "\r\n", status);
  }
  // An invalid request line followed by a good header section.
  RequestCase& bad_line(std::string name, std::string line, int status) {
    return bad(std::move(name), line + "\r\nHost: a\r\n\r\n", status);
  }
  // A chunked POST whose body (framing included) is `body`.
  RequestCase& post_chunked(std::string name, std::string body) {
    return ok(std::move(name),
              "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        .m("POST", M::kPost)
        .t("/up")
        .h("Host", "a")
        .h("Transfer-Encoding", "chunked");
  }
  RequestCase& bad_chunked(std::string name, std::string body, int status) {
    RequestCase& c = post_chunked(std::move(name), std::move(body));
    c.status = status;
    return c;
  }

  std::vector<RequestCase> take() { return std::move(cases_); }

 private:
  std::vector<RequestCase> cases_;
};

std::vector<RequestCase> build() {
  Table T;
  const std::string host = "Host: a\r\n";

  // ---- Valid: request line ------------------------------------------------
  T.get("simple_get", "").f(F::kOrigin).pq("/", "");
  T.ok("query", "GET /search?q=1&r=2 HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("GET", M::kGet)
      .t("/search?q=1&r=2")
      .pq("/search", "q=1&r=2")
      .h("Host", "a");
  T.ok("empty_query", "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("GET", M::kGet)
      .t("/a?")
      .pq("/a", "")
      .h("Host", "a");
  T.ok("question_in_query", "GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("GET", M::kGet)
      .t("/a?b?c")
      .pq("/a", "b?c")
      .h("Host", "a");
  T.ok("percent_encoded", "GET /a%20b%2F?x=%41 HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("GET", M::kGet)
      .t("/a%20b%2F?x=%41")
      .pq("/a%20b%2F", "x=%41")
      .h("Host", "a");
  T.ok("all_target_punctuation", "GET /a-._~!$&'()*+,;=:@/b?c=/?[] HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("GET", M::kGet)
      .t("/a-._~!$&'()*+,;=:@/b?c=/?[]")
      .pq("/a-._~!$&'()*+,;=:@/b", "c=/?[]")
      .h("Host", "a")
      .nodiff();
  T.ok("double_slash_path", "GET //x HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("GET", M::kGet)
      .t("//x")
      .pq("//x", "")
      .h("Host", "a");
  T.ok("head", "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n").m("HEAD", M::kHead).t("/x").h("Host", "a");
  T.ok("put_cl", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
      .m("PUT", M::kPut)
      .t("/x")
      .h("Host", "a")
      .h("Content-Length", "3")
      .cl(3, "abc");
  T.ok("delete_query", "DELETE /x?id=7 HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("DELETE", M::kDelete)
      .t("/x?id=7")
      .pq("/x", "id=7")
      .h("Host", "a");
  T.ok("options_path", "OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("OPTIONS", M::kOptions)
      .t("/x")
      .h("Host", "a");
  T.ok("options_asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("OPTIONS", M::kOptions)
      .t("*")
      .pq("*", "")
      .f(F::kAsterisk)
      .h("Host", "a");
  T.ok("trace", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n").m("TRACE", M::kTrace).t("/").h("Host", "a");
  T.ok("patch_cl", "PATCH /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}")
      .m("PATCH", M::kPatch)
      .t("/p")
      .h("Host", "a")
      .h("Content-Length", "2")
      .cl(2, "{}");
  T.ok("other_method", "PURGE /c HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("PURGE", M::kOther)
      .t("/c")
      .h("Host", "a");
  T.ok("token_method_symbols", "X-M!#$%&'*+.^_`|~ / HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("X-M!#$%&'*+.^_`|~", M::kOther)
      .t("/")
      .h("Host", "a")
      .nodiff();
  T.ok("lowercase_method_is_other", "get / HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("get", M::kOther)
      .t("/")
      .h("Host", "a")
      .nodiff();
  T.ok("absolute_form", "GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n")
      .m("GET", M::kGet)
      .t("http://example.com/a?b")
      .pq("/a", "b")
      .f(F::kAbsolute)
      .h("Host", "example.com");
  T.ok("absolute_form_no_path", "GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n")
      .m("GET", M::kGet)
      .t("http://example.com")
      .pq("", "")
      .f(F::kAbsolute)
      .h("Host", "example.com");
  T.ok("absolute_form_userinfo_port", "GET https://u@h:8443/x HTTP/1.1\r\nHost: h:8443\r\n\r\n")
      .m("GET", M::kGet)
      .t("https://u@h:8443/x")
      .pq("/x", "")
      .f(F::kAbsolute)
      .h("Host", "h:8443");
  T.ok("absolute_form_query_only", "GET http://h?x HTTP/1.1\r\nHost: h\r\n\r\n")
      .m("GET", M::kGet)
      .t("http://h?x")
      .pq("", "x")
      .f(F::kAbsolute)
      .h("Host", "h");
  T.ok("connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
      .m("CONNECT", M::kConnect)
      .t("example.com:443")
      .pq("", "")
      .f(F::kAuthority)
      .h("Host", "example.com:443")
      .nodiff();
  T.ok("connect_ipv6", "CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n")
      .m("CONNECT", M::kConnect)
      .t("[::1]:8080")
      .pq("", "")
      .f(F::kAuthority)
      .h("Host", "[::1]:8080")
      .nodiff();
  T.ok("connect_ipv4", "CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n")
      .m("CONNECT", M::kConnect)
      .t("127.0.0.1:80")
      .f(F::kAuthority)
      .h("Host", "127.0.0.1:80")
      .nodiff();
  T.ok("http10_no_host", "GET / HTTP/1.0\r\n\r\n").m("GET", M::kGet).t("/").v10();
  T.ok("http10_keep_alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
      .m("GET", M::kGet)
      .t("/")
      .v10()
      .h("Connection", "keep-alive")
      .ka(true);
  T.ok("http10_keep_alive_mixed_case", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
      .m("GET", M::kGet)
      .t("/")
      .v10()
      .h("Connection", "Keep-Alive")
      .ka(true);
  T.ok("http10_keep_alive_and_close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")
      .m("GET", M::kGet)
      .t("/")
      .v10()
      .h("Connection", "keep-alive, close")
      .ka(false)
      .nodiff();
  T.ok("http10_cl_body", "POST / HTTP/1.0\r\nContent-Length: 4\r\n\r\nbody")
      .m("POST", M::kPost)
      .t("/")
      .v10()
      .h("Content-Length", "4")
      .cl(4, "body");
  T.ok("http10_expect_ignored",
       "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")
      .m("POST", M::kPost)
      .t("/")
      .v10()
      .h("Expect", "100-continue")
      .h("Content-Length", "1")
      .cl(1, "x");
  T.ok("http10_unknown_expect_ignored", "GET / HTTP/1.0\r\nExpect: nothing\r\n\r\n")
      .m("GET", M::kGet)
      .t("/")
      .v10()
      .h("Expect", "nothing");
  T.ok("leading_crlf", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("GET", M::kGet)
      .t("/")
      .h("Host", "a");
  {
    std::string in;
    for (int i = 0; i < 8; ++i) in += "\r\n";
    T.ok("leading_crlf_at_limit", in + "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .m("GET", M::kGet)
        .t("/")
        .h("Host", "a")
        .nodiff();
  }
  {
    ParserLimits l;
    l.max_request_line = 20;  // "GET /1234567 HTTP/1.1" is 21 bytes; /123456 is 20
    T.ok("request_line_at_limit", "GET /123456 HTTP/1.1\r\nHost: a\r\n\r\n")
        .lim(l)
        .m("GET", M::kGet)
        .t("/123456")
        .h("Host", "a");
  }

  // ---- Valid: header fields ------------------------------------------------
  T.get("value_trimmed", "X:  a b  \r\n").h("X", "a b");
  T.get("value_tabs_trimmed", "X:\t a \t\r\n").h("X", "a");
  T.get("value_inner_spaces_kept", "X: a  \t b\r\n").h("X", "a  \t b");
  T.get("empty_value", "X:\r\n").h("X", "");
  T.get("whitespace_only_value", "X:   \r\n").h("X", "");
  T.get("no_space_after_colon", "X:v\r\n").h("X", "v");
  T.get("colon_in_value", "X: a:b:c\r\n").h("X", "a:b:c");
  T.get("quotes_in_value", "X: \"q\" (c) <d>\r\n").h("X", "\"q\" (c) <d>");
  T.get("obs_text_value", "X: caf\xc3\xa9\r\n").h("X", "caf\xc3\xa9");
  T.get("tchar_name", "X-!#$%&'*+-.^_`|~1: v\r\n").h("X-!#$%&'*+-.^_`|~1", "v").nodiff();
  T.get("duplicate_plain_headers", "X: 1\r\nX: 2\r\n").h("X", "1").h("X", "2");
  T.ok("host_lowercase_name", "GET / HTTP/1.1\r\nhost: a\r\n\r\n")
      .m("GET", M::kGet)
      .t("/")
      .h("host", "a");
  T.ok("host_uppercase_name", "GET / HTTP/1.1\r\nHOST: a\r\n\r\n")
      .m("GET", M::kGet)
      .t("/")
      .h("HOST", "a");
  T.ok("host_with_port", "GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n")
      .m("GET", M::kGet)
      .t("/")
      .h("Host", "a.example:8080");
  T.ok("host_ipv6", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n")
      .m("GET", M::kGet)
      .t("/")
      .h("Host", "[::1]:80");
  T.ok("host_empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n").m("GET", M::kGet).t("/").h("Host", "");
  T.get("connection_close", "Connection: close\r\n").h("Connection", "close").ka(false);
  T.get("connection_close_upper", "Connection: CLOSE\r\n").h("Connection", "CLOSE").ka(false);
  T.get("connection_list_close", "Connection: keep-alive, close\r\n")
      .h("Connection", "keep-alive, close")
      .ka(false);
  T.get("connection_list_with_empty", "Connection: , upgrade ,close,\r\n")
      .h("Connection", ", upgrade ,close,")
      .ka(false)
      .nodiff();
  T.get("connection_keep_alive_11", "Connection: keep-alive\r\n").h("Connection", "keep-alive");
  T.get("connection_two_fields", "Connection: foo\r\nConnection: close\r\n")
      .h("Connection", "foo")
      .h("Connection", "close")
      .ka(false);
  T.get("connection_closed_not_close", "Connection: closed\r\n").h("Connection", "closed");
  T.get("upgrade_ignored", "Connection: upgrade\r\nUpgrade: websocket\r\n")
      .h("Connection", "upgrade")
      .h("Upgrade", "websocket")
      .nodiff();
  T.get("expect_100", "Expect: 100-continue\r\n").h("Expect", "100-continue").expect100();
  T.get("expect_100_mixed_case", "Expect: 100-Continue\r\n")
      .h("Expect", "100-Continue")
      .expect100();
  T.get("expect_empty_ignored", "Expect:\r\n").h("Expect", "");
  T.get("nine_headers",
        "User-Agent: test/1.0\r\nAccept: */*\r\nAccept-Language: en\r\nAccept-Encoding: gzip\r\n"
        "Cookie: a=b; c=d\r\nReferer: http://a/\r\nCache-Control: no-cache\r\nX-Id: 42\r\n")
      .h("User-Agent", "test/1.0")
      .h("Accept", "*/*")
      .h("Accept-Language", "en")
      .h("Accept-Encoding", "gzip")
      .h("Cookie", "a=b; c=d")
      .h("Referer", "http://a/")
      .h("Cache-Control", "no-cache")
      .h("X-Id", "42");
  {
    ParserLimits l;
    l.max_header_line = 10;  // "X: 1234567" is 10 bytes
    T.get("header_line_at_limit", "X: 1234567\r\n").lim(l).h("X", "1234567");
  }
  {
    ParserLimits l;
    l.max_header_bytes = 9 + 9;  // "Host: a\r\n" + "X: 1234\r\n"
    T.get("header_bytes_at_limit", "X: 1234\r\n").lim(l).h("X", "1234");
  }
  {
    ParserLimits l;
    l.max_headers = 3;
    T.get("header_count_at_limit", "X: 1\r\nY: 2\r\n").lim(l).h("X", "1").h("Y", "2");
  }

  // ---- Valid: bodies ---------------------------------------------------------
  T.ok("post_cl", "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
      .m("POST", M::kPost)
      .t("/f")
      .h("Host", "a")
      .h("Content-Length", "5")
      .cl(5, "hello");
  T.ok("post_cl_zero", "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
      .m("POST", M::kPost)
      .t("/f")
      .h("Host", "a")
      .h("Content-Length", "0")
      .cl(0, "");
  T.ok("cl_leading_zeros", "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\nhello")
      .m("POST", M::kPost)
      .t("/f")
      .h("Host", "a")
      .h("Content-Length", "005")
      .cl(5, "hello");
  T.ok("cl_lowercase_name", "POST /f HTTP/1.1\r\nHost: a\r\ncontent-length: 3\r\n\r\nabc")
      .m("POST", M::kPost)
      .t("/f")
      .h("Host", "a")
      .h("content-length", "3")
      .cl(3, "abc");
  T.ok("cl_repeated_identical",
       "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello")
      .m("POST", M::kPost)
      .t("/f")
      .h("Host", "a")
      .h("Content-Length", "5")
      .h("Content-Length", "5")
      .cl(5, "hello")
      .nodiff();
  T.ok("cl_list_identical", "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello")
      .m("POST", M::kPost)
      .t("/f")
      .h("Host", "a")
      .h("Content-Length", "5, 5")
      .cl(5, "hello")
      .nodiff();
  T.ok("get_with_body", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
      .m("GET", M::kGet)
      .t("/")
      .h("Host", "a")
      .h("Content-Length", "2")
      .cl(2, "hi");
  T.ok("expect_100_with_body",
       "PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc")
      .m("PUT", M::kPut)
      .t("/u")
      .h("Host", "a")
      .h("Expect", "100-continue")
      .h("Content-Length", "3")
      .cl(3, "abc")
      .expect100();
  T.ok("body_with_crlf_inside", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n\r\n\r\n")
      .m("POST", M::kPost)
      .t("/")
      .h("Host", "a")
      .h("Content-Length", "4")
      .cl(4, "\r\n\r\n");
  {
    ParserLimits l;
    l.max_body_size = 5;
    T.ok("cl_at_body_limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        .lim(l)
        .m("POST", M::kPost)
        .t("/")
        .h("Host", "a")
        .h("Content-Length", "5")
        .cl(5, "hello");
  }
  T.ok("pipelined_get", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
      .m("GET", M::kGet)
      .t("/1")
      .h("Host", "a")
      .trail(28)
      .nodiff();
  T.ok("pipelined_after_cl",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nokGET / HTTP/1.1\r\n\r\n")
      .m("POST", M::kPost)
      .t("/")
      .h("Host", "a")
      .h("Content-Length", "2")
      .cl(2, "ok")
      .trail(18)
      .nodiff();
  T.post_chunked("chunked_simple", "5\r\nhello\r\n0\r\n\r\n").chunked("hello");
  T.post_chunked("chunked_multi", "5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n")
      .chunked("hello world");
  T.post_chunked("chunked_hex_sizes", "a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n")
      .chunked("0123456789abcdefghij");
  T.post_chunked("chunked_leading_zeros", "005\r\nhello\r\n000\r\n\r\n").chunked("hello");
  T.post_chunked("chunked_16_digit_size", "0000000000000005\r\nhello\r\n0\r\n\r\n")
      .chunked("hello");
  T.post_chunked("chunked_empty_body", "0\r\n\r\n").chunked("");
  T.post_chunked("chunked_data_with_crlf", "4\r\n\r\n\r\n\r\n0\r\n\r\n").chunked("\r\n\r\n");
  T.post_chunked("chunked_ext", "5;name=value\r\nhello\r\n0\r\n\r\n").chunked("hello");
  T.post_chunked("chunked_ext_many", "5;a;b=c;d=e\r\nhello\r\n0;last\r\n\r\n").chunked("hello");
  T.post_chunked("chunked_ext_quoted", "5;a=\"q \\\" ;x\"\r\nhello\r\n0\r\n\r\n")
      .chunked("hello")
      .nodiff();
  T.post_chunked("chunked_ext_bws", "5 ; a = b ;c\r\nhello\r\n0\r\n\r\n").chunked("hello").nodiff();
  T.post_chunked("chunked_trailers", "5\r\nhello\r\n0\r\nX-T: 1\r\nY:2 \r\n\r\n").chunked("hello");
  T.post_chunked("chunked_trailer_empty_value", "5\r\nhello\r\n0\r\nX-T:\r\n\r\n").chunked("hello");
  T.ok("chunked_mixed_case_coding",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
      .m("POST", M::kPost)
      .t("/")
      .h("Host", "a")
      .h("Transfer-Encoding", "Chunked")
      .chunked("abc");
  T.ok("chunked_then_pipelined",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET")
      .m("POST", M::kPost)
      .t("/")
      .h("Host", "a")
      .h("Transfer-Encoding", "chunked")
      .chunked("x")
      .trail(3)
      .nodiff();
  {
    ParserLimits l;
    l.max_body_size = 10;
    T.post_chunked("chunked_at_body_limit", "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n")
        .lim(l)
        .chunked("helloworld");
  }
  {
    ParserLimits l;
    l.max_chunk_count = 2;
    T.post_chunked("chunked_at_chunk_count", "1\r\na\r\n1\r\nb\r\n0\r\n\r\n").lim(l).chunked("ab");
  }
  {
    ParserLimits l;
    l.max_trailer_bytes = 8;  // "X-T: 1\r\n"
    T.post_chunked("trailer_at_limit", "1\r\na\r\n0\r\nX-T: 1\r\n\r\n").lim(l).chunked("a");
  }
  {
    ParserLimits l;
    l.max_chunk_line = 6;  // "1;a=bc"
    T.post_chunked("chunk_line_at_limit", "1;a=bc\r\na\r\n0\r\n\r\n").lim(l).chunked("a");
  }

  // ---- Incomplete --------------------------------------------------------------
  T.bad("incomplete_head", "GET / HTTP/1.1\r\nHost: a\r\n", kIncomplete);
  T.bad("incomplete_after_cr", "GET / HTTP/1.1\r\nHost: a\r\n\r", kIncomplete);
  T.bad("incomplete_only_crlf", "\r\n\r\n", kIncomplete);
  T.bad("incomplete_cl_body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel",
        kIncomplete);
  T.bad_chunked("incomplete_chunked", "5\r\nhello\r\n", kIncomplete);
  T.bad_chunked("incomplete_chunked_trailer", "0\r\nX: 1\r\n", kIncomplete);

  // ---- Invalid: request line ------------------------------------------------------
  T.bad_line("double_space_after_method", "GET  / HTTP/1.1", 400);
  T.bad_line("double_space_before_version", "GET /  HTTP/1.1", 400);
  T.bad_line("trailing_space", "GET / HTTP/1.1 ", 400);
  T.bad_line("leading_space", " GET / HTTP/1.1", 400);
  T.bad_line("tab_separator", "GET\t/ HTTP/1.1", 400);
  T.bad_line("tab_before_version", "GET /\tHTTP/1.1", 400);
  T.bad_line("lowercase_version", "GET / http/1.1", 400);
  T.bad_line("http_2_0", "GET / HTTP/2.0", 505);
  T.bad_line("http_1_2", "GET / HTTP/1.2", 505);
  T.bad_line("http_0_9_version", "GET / HTTP/0.9", 505);
  T.bad_line("http_3_0", "GET / HTTP/3.0", 505);
  T.bad_line("version_no_minor", "GET / HTTP/1", 400);
  T.bad_line("version_extra_digit", "GET / HTTP/1.10", 400);
  T.bad_line("version_two_digit_major", "GET / HTTP/10.1", 400);
  T.bad_line("version_three_parts", "GET / HTTP/1.1.1", 400);
  T.bad_line("version_letter", "GET / HTTP/1.x", 400);
  T.bad_line("version_space", "GET / HTTP/ 1.1", 400);
  T.bad_line("version_missing", "GET /", 400);
  T.bad_line("target_missing", "GET HTTP/1.1", 400);
  T.bad_line("method_missing", "/ HTTP/1.1", 400);
  T.bad_line("method_non_token", "G(T / HTTP/1.1", 400);
  T.bad_line("method_obs_text", "G\xc3\xa9T / HTTP/1.1", 400);
  T.bad_line("target_fragment", "GET /a#b HTTP/1.1", 400);
  T.bad_line("target_dquote", "GET /a\"b HTTP/1.1", 400);
  T.bad_line("target_angle", "GET /<x> HTTP/1.1", 400);
  T.bad_line("target_backslash", "GET /a\\b HTTP/1.1", 400);
  T.bad_line("target_obs_text", "GET /caf\xc3\xa9 HTTP/1.1", 400);
  T.bad_line("target_bad_percent", "GET /a%zz HTTP/1.1", 400);
  T.bad_line("target_short_percent", "GET /a%2 HTTP/1.1", 400);
  T.bad_line("asterisk_with_get", "GET * HTTP/1.1", 400);
  T.bad_line("asterisk_prefix", "OPTIONS *x HTTP/1.1", 400);
  T.bad_line("authority_form_with_get", "GET example.com:80 HTTP/1.1", 400);
  T.bad_line("absolute_without_authority", "GET urn:x HTTP/1.1", 400);
  T.bad_line("scheme_starts_with_digit", "GET 1http://a/ HTTP/1.1", 400);
  T.bad_line("connect_origin_form", "CONNECT / HTTP/1.1", 400);
  T.bad_line("connect_absolute_form", "CONNECT http://a:80/ HTTP/1.1", 400);
  T.bad_line("connect_no_port", "CONNECT example.com HTTP/1.1", 400);
  T.bad_line("connect_empty_port", "CONNECT example.com: HTTP/1.1", 400);
  T.bad_line("connect_bad_port", "CONNECT example.com:http HTTP/1.1", 400);
  T.bad_line("connect_asterisk", "CONNECT * HTTP/1.1", 400);
  T.bad_line("connect_userinfo", "CONNECT u@a:80 HTTP/1.1", 400);
  T.bad_line("nul_in_target", std::string("GET /a\0b HTTP/1.1", 17), 400);
  T.bad_line("del_in_target", "GET /a\x7f HTTP/1.1", 400);
  {
    ParserLimits l;
    l.max_request_line = 20;
    T.bad_line("request_line_over_limit", "GET /1234567 HTTP/1.1", 414).lim(l);
  }
  {
    ParserLimits l;
    l.max_request_line = 20;  // 21 bytes and no CRLF yet: rejected without waiting
    T.bad("request_line_over_limit_unterminated", "GET /123456789 HTTP/1", 414).lim(l);
  }
  {
    std::string in;
    for (int i = 0; i < 9; ++i) in += "\r\n";
    T.bad("too_many_leading_crlf", in + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
  }
  T.bad("leading_bare_lf", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
  T.bad("bare_lf_request_line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400);
  T.bad("bare_lf_header_line", "GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", 400);
  T.bad("bare_lf_final", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400);
  T.bad("all_bare_lf", "GET / HTTP/1.1\nHost: a\n\n", 400);
  T.bad("bare_cr_request_line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400);
  T.bad("bare_cr_final", "GET / HTTP/1.1\r\nHost: a\r\n\rX", 400);
  T.bad("cr_cr_lf", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400);

  // ---- Invalid: header fields -------------------------------------------------------
  T.bad_header("space_before_colon", "X : v\r\n", 400);
  T.bad_header("tab_before_colon", "X\t: v\r\n", 400);
  T.bad("host_space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
  T.bad_header("no_colon", "X v\r\n", 400);
  T.bad_header("empty_name", ": v\r\n", 400);
  T.bad_header("name_with_dquote", "X\"Y: v\r\n", 400);
  T.bad_header("name_with_paren", "X(Y): v\r\n", 400);
  T.bad_header("name_obs_text", "X\xc3\xa9: v\r\n", 400);
  T.bad_header("name_with_slash", "X/Y: v\r\n", 400);
  T.bad_header("obs_fold_space", "X: a\r\n b\r\n", 400);
  T.bad_header("obs_fold_tab", "X: a\r\n\tb\r\n", 400);
  T.bad("obs_fold_first_line", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
  T.bad("te_obs_fold",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400);
  T.bad_header("nul_in_value", std::string("X: a\0b\r\n", 8), 400);
  T.bad_header("nul_in_name", std::string("X\0: b\r\n", 7), 400);
  T.bad_header("ctl_in_value",
               "X: a\x01"
               "b\r\n",
               400);
  T.bad_header("esc_in_value", "X: a\x1b[0m\r\n", 400);
  T.bad_header("del_in_value", "X: a\x7f\r\n", 400);
  T.bad_header("bare_cr_in_value", "X: a\rb\r\n", 400);
  T.bad_header("bare_lf_in_value", "X: a\nb\r\n", 400);
  T.bad_header("cr_at_value_end", "X: a\r\r\n", 400);
  T.bad("missing_host", "GET / HTTP/1.1\r\n\r\n", 400);
  T.bad("missing_host_with_others", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400);
  T.bad_header("two_hosts", "Host: b\r\n", 400);
  T.bad_header("two_hosts_same_value", "Host: a\r\n", 400);
  T.bad_header("two_hosts_case", "host: a\r\n", 400);
  T.bad("host_with_space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
  T.bad("host_with_slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
  T.bad("host_with_at", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400);
  T.bad_header("expect_unknown", "Expect: something\r\n", 417);
  T.bad_header("expect_list", "Expect: 100-continue, foo\r\n", 417);
  T.bad_header("expect_102", "Expect: 102-processing\r\n", 417);
  {
    ParserLimits l;
    l.max_header_line = 10;
    T.bad_header("header_line_over_limit", "X: 12345678\r\n", 431).lim(l);
  }
  {
    ParserLimits l;
    l.max_header_line = 10;
    T.bad("header_line_over_limit_unterminated", "GET / HTTP/1.1\r\nHost: a\r\nX: 12345678", 431)
        .lim(l);
  }
  {
    ParserLimits l;
    l.max_header_bytes = 9 + 9;
    T.bad_header("header_bytes_over_limit", "X: 12345\r\n", 431).lim(l);
  }
  {
    ParserLimits l;
    l.max_header_bytes = 9 + 8;  // the value fits, its CRLF does not
    T.bad_header("header_bytes_over_limit_by_crlf", "X: 1234\r\n", 431).lim(l);
  }
  {
    ParserLimits l;
    l.max_header_bytes = 9 + 9;  // full: the next line has no room for a byte
    T.bad_header("header_bytes_full_then_more", "X: 1234\r\nY: 1\r\n", 431).lim(l);
  }
  {
    ParserLimits l;
    l.max_headers = 3;
    T.bad_header("header_count_over_limit", "X: 1\r\nY: 2\r\nZ: 3\r\n", 431).lim(l);
  }
  {
    std::string many;
    for (int i = 0; i < 100; ++i) many += "X: " + std::to_string(i) + "\r\n";
    T.bad_header("default_header_count_over_limit", many, 431);
  }
  T.bad_header("default_header_line_over_limit", "X: " + std::string(8 * 1024 - 2, 'v') + "\r\n",
               431);

  // ---- Invalid: message framing (smuggling) -----------------------------------------
  const std::string post = "POST / HTTP/1.1\r\nHost: a\r\n";
  T.bad("cl_and_te", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400);
  T.bad("te_and_cl", post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        400);
  T.bad("te_and_cl_zero", post + "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400);
  T.bad("cl_two_fields_differ", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400);
  T.bad("cl_list_differs", post + "Content-Length: 5, 6\r\n\r\nhello!", 400);
  T.bad("cl_list_then_field_differs", post + "Content-Length: 5,5\r\nContent-Length: 6\r\n\r\n",
        400);
  T.bad("cl_negative", post + "Content-Length: -5\r\n\r\n", 400);
  T.bad("cl_plus", post + "Content-Length: +5\r\n\r\nhello", 400);
  T.bad("cl_hex", post + "Content-Length: 0x5\r\n\r\nhello", 400);
  T.bad("cl_inner_space", post + "Content-Length: 1 0\r\n\r\n", 400);
  T.bad("cl_letters", post + "Content-Length: 5a\r\n\r\n", 400);
  T.bad("cl_empty", post + "Content-Length:\r\n\r\n", 400);
  T.bad("cl_trailing_comma", post + "Content-Length: 5,\r\n\r\nhello", 400);
  T.bad("cl_leading_comma", post + "Content-Length: ,5\r\n\r\nhello", 400);
  T.bad("cl_decimal_point", post + "Content-Length: 5.0\r\n\r\nhello", 400);
  T.bad("cl_overflow", post + "Content-Length: 18446744073709551616\r\n\r\n", 400);
  T.bad("cl_huge_overflow", post + "Content-Length: 99999999999999999999999999\r\n\r\n", 400);
  T.bad("cl_max_u64_too_large", post + "Content-Length: 18446744073709551615\r\n\r\n", 413);
  T.bad("cl_over_default_limit", post + "Content-Length: 1048577\r\n\r\n", 413);
  {
    ParserLimits l;
    l.max_body_size = 5;
    T.bad("cl_over_limit_by_one", post + "Content-Length: 6\r\n\r\nhello!", 413).lim(l);
  }
  T.bad("te_chunked_identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400);
  T.bad("te_chunked_gzip", post + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400);
  T.bad("te_chunked_twice", post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400);
  T.bad("te_chunked_two_fields",
        post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
  T.bad("te_chunked_then_gzip_field",
        post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 400);
  T.bad("te_gzip", post + "Transfer-Encoding: gzip\r\n\r\n", 501);
  T.bad("te_identity", post + "Transfer-Encoding: identity\r\n\r\n", 501);
  T.bad("te_gzip_chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
  T.bad("te_gzip_params_chunked", post + "Transfer-Encoding: gzip;q=1, chunked\r\n\r\n0\r\n\r\n",
        501);
  T.bad("te_unknown_prefix", post + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501);
  T.bad("te_chunked_params", post + "Transfer-Encoding: chunked;a=b\r\n\r\n0\r\n\r\n", 400);
  T.bad("te_chunked_junk", post + "Transfer-Encoding: chunked x\r\n\r\n0\r\n\r\n", 400);
  T.bad("te_empty", post + "Transfer-Encoding:\r\n\r\n", 400);
  T.bad("te_trailing_comma", post + "Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n", 400);
  T.bad("te_quoted", post + "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", 400);
  T.bad("te_in_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
  T.bad("te_space_before_colon", post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400);
  T.bad("cl_space_before_colon", post + "Content-Length : 5\r\n\r\nhello", 400);
  T.bad("te_nul_value", post + std::string("Transfer-Encoding: chunked\0\r\n\r\n", 31), 400);

  // ---- Invalid: chunked bodies -----------------------------------------------------
  T.bad_chunked("chunk_size_17_digits_default_limit", "FFFFFFFFFFFFFFFFF\r\n", 413);
  {
    ParserLimits l;
    l.max_body_size = std::numeric_limits<std::uint64_t>::max();
    T.bad_chunked("chunk_size_17_digits", "00000000000000001\r\nx\r\n0\r\n\r\n", 400).lim(l);
    T.bad_chunked("chunk_size_overflow", "10000000000000000\r\n", 400).lim(l);
  }
  T.bad_chunked("chunk_size_over_limit", "100001\r\n", 413);
  T.bad_chunked("chunk_size_not_hex", "zz\r\n", 400);
  T.bad_chunked("chunk_size_empty", "\r\nhello\r\n0\r\n\r\n", 400);
  T.bad_chunked("chunk_size_negative", "-1\r\n", 400);
  T.bad_chunked("chunk_size_0x", "0x5\r\nhello\r\n0\r\n\r\n", 400);
  T.bad_chunked("chunk_size_leading_space", " 5\r\nhello\r\n0\r\n\r\n", 400);
  T.bad_chunked("chunk_size_trailing_space", "5 \r\nhello\r\n0\r\n\r\n", 400);
  T.bad_chunked("chunk_data_too_long", "3\r\nabcd\r\n0\r\n\r\n", 400);
  T.bad_chunked("chunk_data_no_crlf", "3\r\nabc0\r\n\r\n", 400);
  T.bad_chunked("chunk_data_bare_lf", "3\r\nabc\n0\r\n\r\n", 400);
  T.bad_chunked("chunk_size_bare_lf", "3\nabc\r\n0\r\n\r\n", 400);
  T.bad_chunked("chunk_size_bare_cr", "3\rabc\r\n0\r\n\r\n", 400);
  T.bad_chunked("last_chunk_bare_lf", "0\n\r\n", 400);
  T.bad_chunked("final_bare_lf", "0\r\n\n", 400);
  T.bad_chunked("ext_empty", "5;\r\nhello\r\n0\r\n\r\n", 400);
  T.bad_chunked("ext_no_name", "5;=a\r\nhello\r\n0\r\n\r\n", 400);
  T.bad_chunked("ext_no_value", "5;a=\r\nhello\r\n0\r\n\r\n", 400);
  T.bad_chunked("ext_two_names", "5;a b\r\nhello\r\n0\r\n\r\n", 400);
  T.bad_chunked("ext_unterminated_quote", "5;a=\"x\r\nhello\r\n0\r\n\r\n", 400);
  T.bad_chunked("ext_ctl", "5;a=b\x01\r\nhello\r\n0\r\n\r\n", 400);
  T.bad_chunked("ext_value_after_quote", "5;a=\"x\"y\r\nhello\r\n0\r\n\r\n", 400);
  T.bad_chunked("trailer_obs_fold", "0\r\nX: 1\r\n 2\r\n\r\n", 400);
  T.bad_chunked("trailer_space_before_colon", "0\r\nX : 1\r\n\r\n", 400);
  T.bad_chunked("trailer_no_colon", "0\r\nX\r\n\r\n", 400);
  T.bad_chunked("trailer_nul", std::string("0\r\nX: a\0\r\n\r\n", 12), 400);
  T.bad_chunked("trailer_bare_lf", "0\r\nX: 1\n\r\n", 400);
  {
    ParserLimits l;
    l.max_body_size = 10;
    T.bad_chunked("chunked_over_body_limit", "5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n", 413).lim(l);
  }
  {
    ParserLimits l;
    l.max_chunk_count = 2;
    T.bad_chunked("chunk_count_over_limit", "1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n", 413).lim(l);
  }
  {
    ParserLimits l;
    l.max_trailer_bytes = 8;
    T.bad_chunked("trailer_over_limit", "1\r\na\r\n0\r\nX-T: 12\r\n\r\n", 431).lim(l);
  }
  {
    ParserLimits l;
    l.max_chunk_line = 6;
    T.bad_chunked("chunk_line_over_limit", "1;a=bcd\r\na\r\n0\r\n\r\n", 400).lim(l);
  }
  return T.take();
}

}  // namespace

const std::vector<RequestCase>& request_cases() {
  static const std::vector<RequestCase> cases = build();
  return cases;
}

Outcome expected_outcome(const RequestCase& c) {
  Outcome o;
  o.status = c.status;
  if (c.status != 0) return o;
  o.method = c.method;
  o.method_enum = c.method_enum;
  o.target = c.target;
  const std::size_t q = c.target.find('?');
  const bool origin = !c.target.empty() && c.target[0] == '/';
  o.path = c.path.value_or(origin ? c.target.substr(0, q) : std::string());
  o.query =
      c.query.value_or(origin && q != std::string::npos ? c.target.substr(q + 1) : std::string());
  o.target_form = c.form.value_or(TargetForm::kOrigin);
  o.version_minor = c.version_minor;
  o.headers = c.headers;
  o.keep_alive = c.keep_alive;
  o.expect_continue = c.expect_continue;
  o.framing = c.framing;
  o.content_length = c.content_length;
  o.body = c.body;
  o.consumed = c.input.size() - c.trailing;
  return o;
}

}  // namespace sluice::http::testing
