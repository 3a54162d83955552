// Content-Type from a file name's extension: a built-in table that the
// configuration extends or overrides ([mime_types]), and a default type.
// Thread rules: build once, then read-only; lookups allocate nothing.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sluice::app {

class MimeTypes {
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

 public:
  // The built-in table, then `extra` (extension in lower case -> type) on top.
  MimeTypes(const std::map<std::string, std::string>& extra, std::string default_type);

  // The type for `file_name` ("a/b.tar.GZ" -> by "gz"), or the default.
  std::string_view lookup(std::string_view file_name) const noexcept;

 private:
  std::unordered_map<std::string, std::string, Hash, std::equal_to<>> table_;
  std::string default_type_;
};

}  // namespace sluice::app
