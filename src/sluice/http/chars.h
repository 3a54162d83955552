// Character classes of RFC 9110/9112/3986 as one 256-entry table, so every
// test is a load and a mask, never a chain of comparisons. Internal to http/.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace sluice::http::chars {

enum : std::uint16_t {
  kToken = 1 << 0,       // tchar
  kFieldChar = 1 << 1,   // field-vchar, SP, HTAB: VCHAR / obs-text / SP / HTAB
  kTarget = 1 << 2,      // request-target: unreserved, gen-delims but '#', sub-delims, '%'
  kHex = 1 << 3,         // HEXDIG
  kDigit = 1 << 4,       // DIGIT
  kWhitespace = 1 << 5,  // SP, HTAB (OWS)
  kHost = 1 << 6,        // uri-host and port: unreserved, sub-delims, '%', ':', '[', ']'
  kScheme = 1 << 7,      // ALPHA, DIGIT, '+', '-', '.'
  kQdText = 1 << 8,      // qdtext of a quoted-string
};

namespace detail {

constexpr bool in(std::string_view set, int c) {
  for (char s : set) {
    if (static_cast<unsigned char>(s) == c) return true;
  }
  return false;
}

constexpr std::array<std::uint16_t, 256> make_table() {
  std::array<std::uint16_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    const bool hex = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    const bool vchar = c >= 0x21 && c <= 0x7e;
    const bool obs_text = c >= 0x80;
    const bool unreserved = alpha || digit || in("-._~", c);
    const bool sub_delims = in("!$&'()*+,;=", c);
    std::uint16_t v = 0;
    if (alpha || digit || in("!#$%&'*+-.^_`|~", c)) v |= kToken;
    if (vchar || obs_text || c == ' ' || c == '\t') v |= kFieldChar;
    if (unreserved || sub_delims || in(":/?[]@%", c)) v |= kTarget;
    if (hex) v |= kHex;
    if (digit) v |= kDigit;
    if (c == ' ' || c == '\t') v |= kWhitespace;
    if (unreserved || sub_delims || in("%:[]", c)) v |= kHost;
    if (alpha || digit || in("+-.", c)) v |= kScheme;
    if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
        (c >= 0x5d && c <= 0x7e) || obs_text) {
      v |= kQdText;
    }
    t[static_cast<std::size_t>(c)] = v;
  }
  return t;
}

}  // namespace detail

inline constexpr std::array<std::uint16_t, 256> kTable = detail::make_table();

constexpr bool has(char c, std::uint16_t cls) noexcept {
  return (kTable[static_cast<unsigned char>(c)] & cls) != 0;
}
constexpr bool is_token(char c) noexcept { return has(c, kToken); }
constexpr bool is_ws(char c) noexcept { return c == ' ' || c == '\t'; }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr char to_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// ASCII case-insensitive equality; `lower` must already be lower case.
constexpr bool iequals_lower(std::string_view s, std::string_view lower) noexcept {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (to_lower(s[i]) != lower[i]) return false;
  }
  return true;
}

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

// Removes leading and trailing SP/HTAB.
constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace sluice::http::chars
