#include "sluice/http/response.h"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "sluice/base/log.h"
#include "sluice/http/chars.h"
#include "sluice/http/date_cache.h"
#include "sluice/http/session.h"

namespace sluice::http {
namespace {

bool valid_header_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name)
    if (!chars::is_token(c)) return false;
  return true;
}

bool valid_header_value(std::string_view value) noexcept {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u == '\r' || u == '\n' || u == 0) return false;
  }
  return true;
}

}  // namespace

Response::Response(net::TcpConnection& conn, Session& session, bool close_after)
    : conn_(conn),
      session_(session),
      version_minor_(session.info().version_minor),
      close_after_(close_after),
      keep_alive_asked_(session.info().keep_alive),
      head_only_(session.info().head_only) {}

Status Response::append(std::string_view bytes) {
  flush_head();
  if (failed_) return Errc::kClosed;
  auto st = conn_.output().append(bytes);
  if (!st) failed_ = true;
  return st;
}

namespace {

// "HTTP/1.1 200 OK\r\nServer: sluice\r\nDate: ...\r\n", rendered once per
// second (and per status) on each thread rather than piece by piece.
struct PrefixCache {
  std::int64_t second = -1;
  int status = 0;
  std::size_t server_length = 0;
  std::size_t length = 0;
  char server[128];
  char text[256];
};
thread_local PrefixCache t_prefix;

}  // namespace

std::string_view Response::status_prefix() {
  PrefixCache& c = t_prefix;
  std::string_view server = session_.server().options().server_header;
  server = server.substr(0, sizeof c.server);
  std::int64_t now_ms = to_millis(conn_.loop().now());
  if (c.second == now_ms / 1000 && c.status == status_ &&
      server == std::string_view(c.server, c.server_length))
    return {c.text, c.length};
  std::string_view date = http_date_at(now_ms);
  std::string_view reason = reason_phrase(static_cast<StatusCode>(status_));
  int n = std::snprintf(c.text, sizeof c.text, "HTTP/1.1 %d %.*s\r\nServer: %.*s\r\nDate: %.*s\r\n",
                        status_, static_cast<int>(reason.size()), reason.data(),
                        static_cast<int>(server.size()), server.data(),
                        static_cast<int>(date.size()), date.data());
  c.length = n > 0 ? std::min(static_cast<std::size_t>(n), sizeof c.text - 1) : 0;
  c.second = now_ms / 1000;
  c.status = status_;
  std::memcpy(c.server, server.data(), server.size());
  c.server_length = server.size();
  return {c.text, c.length};
}

// The head (and a small body) is gathered here and leaves in one append.
void Response::put(std::string_view bytes) {
  if (head_len_ + bytes.size() > head_buf_.size()) {
    flush_head();
    (void)append(bytes);
    return;
  }
  std::memcpy(head_buf_.data() + head_len_, bytes.data(), bytes.size());
  head_len_ += bytes.size();
}

void Response::flush_head() {
  if (head_len_ == 0 || failed_) return;
  auto st = conn_.output().append(std::string_view(head_buf_.data(), head_len_));
  head_len_ = 0;
  if (!st) failed_ = true;
}

Response& Response::status(int code) noexcept {
  if (status_line_written_) {
    SLUICE_LOG_EVERY_MS(kWarn, 1000, "http: status(%d) after headers ignored", code);
    return *this;
  }
  status_ = code;
  return *this;
}

Response& Response::close_connection() noexcept {
  if (!head_written_) close_after_ = true;
  return *this;
}

Response& Response::header(std::string_view name, std::string_view value) {
  if (head_written_) return *this;
  if (!valid_header_name(name) || !valid_header_value(value)) {
    SLUICE_LOG_EVERY_MS(kWarn, 1000, "http: invalid response header dropped");
    return *this;
  }
  write_head(nullptr, {});  // the status line, if not yet
  put(name);
  put(": ");
  put(value);
  put("\r\n");
  return *this;
}

void Response::write_head(const char* framing_name, std::string_view framing_value) {
  if (!status_line_written_) {
    status_line_written_ = true;
    put(status_prefix());
  }
  if (!framing_name) return;
  head_written_ = true;
  if (*framing_name) {
    put(framing_name);
    put(framing_value);
    put("\r\n");
  }
  if (close_after_) {
    put("Connection: close\r\n\r\n");
  } else if (version_minor_ == 0) {
    put("Connection: keep-alive\r\n\r\n");
  } else {
    put("\r\n");
  }
}

void Response::send(std::string_view body) {
  if (head_written_ || deferred_) return;
  char len[24];
  auto [end, ec] = std::to_chars(len, len + sizeof len, body.size());
  (void)ec;
  write_head("Content-Length: ", std::string_view(len, static_cast<std::size_t>(end - len)));
  if (!head_only_ && !body.empty()) put(body);
  flush_head();
  body_bytes_ = head_only_ ? 0 : body.size();
  finished_ = true;
}

void Response::send_borrowed(std::string_view body) {
  if (head_written_ || deferred_) return;
  char len[24];
  auto [end, ec] = std::to_chars(len, len + sizeof len, body.size());
  (void)ec;
  write_head("Content-Length: ", std::string_view(len, static_cast<std::size_t>(end - len)));
  flush_head();
  if (!head_only_ && !body.empty()) conn_.output().append_borrowed(body);
  body_bytes_ = head_only_ ? 0 : body.size();
  finished_ = true;
}

void Response::send_file(mem::SharedFile file, off_t offset, std::size_t length) {
  if (head_written_ || deferred_) return;
  char len[24];
  auto [end, ec] = std::to_chars(len, len + sizeof len, length);
  (void)ec;
  write_head("Content-Length: ", std::string_view(len, static_cast<std::size_t>(end - len)));
  flush_head();
  if (!head_only_ && length > 0) conn_.output().append_file(std::move(file), offset, length);
  body_bytes_ = head_only_ ? 0 : length;
  finished_ = true;
}

void Response::send_head_only(std::uint64_t content_length, bool with_length) {
  if (head_written_ || deferred_) return;
  if (with_length) {
    char len[24];
    auto [end, ec] = std::to_chars(len, len + sizeof len, content_length);
    (void)ec;
    write_head("Content-Length: ", std::string_view(len, static_cast<std::size_t>(end - len)));
  } else {
    write_head("", {});
  }
  flush_head();
  finished_ = true;
}

void Response::begin_stream() {
  if (head_written_ || deferred_) return;
  streaming_ = true;
  if (version_minor_ == 0) {
    close_after_ = true;  // HTTP/1.0: the end of the body is the close
    write_head("", {});
  } else {
    write_head("Transfer-Encoding: ", "chunked");
  }
  flush_head();
}

void Response::write(std::string_view piece) {
  if (!streaming_ || finished_ || piece.empty() || head_only_) return;
  body_bytes_ += piece.size();
  if (version_minor_ == 0) {
    (void)append(piece);
  } else {
    char size[20];
    auto [end, ec] = std::to_chars(size, size + sizeof size, piece.size(), 16);
    (void)ec;
    (void)append(std::string_view(size, static_cast<std::size_t>(end - size)));
    (void)append("\r\n");
    (void)append(piece);
    (void)append("\r\n");
  }
  conn_.flush();
}

void Response::end_stream() {
  if (!streaming_ || finished_) return;
  if (version_minor_ != 0 && !head_only_) (void)append("0\r\n\r\n");
  finished_ = true;
}

AsyncResponse Response::defer() {
  if (head_written_ || finished_) return {};
  deferred_ = true;
  return AsyncResponse(session_.defer(conn_));
}

bool AsyncResponse::send(int status, std::vector<std::pair<std::string, std::string>> headers,
                         std::string body) {
  if (!state_ || state_->used.exchange(true)) return false;
  state_->loop->run_in_loop(
      [state = state_, status, headers = std::move(headers), body = std::move(body)] {
        if (state->session) state->session->complete_async(*state->conn, status, headers, body);
      });
  return true;
}

}  // namespace sluice::http
