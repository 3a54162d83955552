// HTTP status codes that Sluice produces, with their reason phrases
// (RFC 9110 section 15). Plain values; no thread rules.
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice::http {

enum class StatusCode : std::uint16_t {
  kNone = 0,  // no status: the operation succeeded
  kContinue = 100,
  kSwitchingProtocols = 101,
  kOk = 200,
  kCreated = 201,
  kNoContent = 204,
  kPartialContent = 206,
  kMovedPermanently = 301,
  kFound = 302,
  kNotModified = 304,
  kBadRequest = 400,
  kForbidden = 403,
  kNotFound = 404,
  kMethodNotAllowed = 405,
  kRequestTimeout = 408,
  kLengthRequired = 411,
  kContentTooLarge = 413,
  kUriTooLong = 414,
  kRangeNotSatisfiable = 416,
  kExpectationFailed = 417,
  kRequestHeaderFieldsTooLarge = 431,
  kInternalServerError = 500,
  kNotImplemented = 501,
  kServiceUnavailable = 503,
  kHttpVersionNotSupported = 505,
};

constexpr int to_int(StatusCode code) noexcept { return static_cast<int>(code); }

// The reason phrase for a status line; "Unknown" for codes not listed above.
constexpr std::string_view reason_phrase(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kNone: return "";
    case StatusCode::kContinue: return "Continue";
    case StatusCode::kSwitchingProtocols: return "Switching Protocols";
    case StatusCode::kOk: return "OK";
    case StatusCode::kCreated: return "Created";
    case StatusCode::kNoContent: return "No Content";
    case StatusCode::kPartialContent: return "Partial Content";
    case StatusCode::kMovedPermanently: return "Moved Permanently";
    case StatusCode::kFound: return "Found";
    case StatusCode::kNotModified: return "Not Modified";
    case StatusCode::kBadRequest: return "Bad Request";
    case StatusCode::kForbidden: return "Forbidden";
    case StatusCode::kNotFound: return "Not Found";
    case StatusCode::kMethodNotAllowed: return "Method Not Allowed";
    case StatusCode::kRequestTimeout: return "Request Timeout";
    case StatusCode::kLengthRequired: return "Length Required";
    case StatusCode::kContentTooLarge: return "Content Too Large";
    case StatusCode::kUriTooLong: return "URI Too Long";
    case StatusCode::kRangeNotSatisfiable: return "Range Not Satisfiable";
    case StatusCode::kExpectationFailed: return "Expectation Failed";
    case StatusCode::kRequestHeaderFieldsTooLarge: return "Request Header Fields Too Large";
    case StatusCode::kInternalServerError: return "Internal Server Error";
    case StatusCode::kNotImplemented: return "Not Implemented";
    case StatusCode::kServiceUnavailable: return "Service Unavailable";
    case StatusCode::kHttpVersionNotSupported: return "HTTP Version Not Supported";
  }
  return "Unknown";
}

}  // namespace sluice::http
