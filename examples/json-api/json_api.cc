// json-api: a small JSON API on Sluice's HTTP layer — a to-do list in memory.
//   json-api --listen ADDR:PORT [--threads N]
//   GET    /todos          the list
//   POST   /todos          body: the title (plain text); answers the new item
//   GET    /todos/:id      one item (404 if absent)
//   DELETE /todos/:id      removes it (204)
//   GET    /todos/:id/slow answers after 100 ms from a worker thread (async)
// Handlers run on several loops at once, so the store takes a mutex.
#include <signal.h>

#include <charconv>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "sluice/http/server.h"
#include "sluice/loop/event_loop.h"

namespace {

using namespace sluice;

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x",
                        static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

class Store {
 public:
  std::string add(std::string_view title) {
    std::lock_guard lock(mu_);
    long id = next_++;
    items_[id] = std::string(title);
    return item_json(id, items_[id]);
  }
  std::string list() {
    std::lock_guard lock(mu_);
    std::string out = "[";
    for (const auto& [id, title] : items_) {
      if (out.size() > 1) out += ",";
      out += item_json(id, title);
    }
    return out + "]";
  }
  bool get(long id, std::string& out) {
    std::lock_guard lock(mu_);
    auto it = items_.find(id);
    if (it == items_.end()) return false;
    out = item_json(id, it->second);
    return true;
  }
  bool remove(long id) {
    std::lock_guard lock(mu_);
    return items_.erase(id) > 0;
  }

 private:
  static std::string item_json(long id, const std::string& title) {
    return "{\"id\":" + std::to_string(id) + ",\"title\":\"" + json_escape(title) + "\"}";
  }
  std::mutex mu_;
  std::map<long, std::string> items_;
  long next_ = 1;
};

bool parse_id(std::string_view text, long& id) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  return ec == std::errc() && end == text.data() + text.size() && id > 0;
}

void send_json(http::Response& res, int status, std::string_view body) {
  res.status(status).header("Content-Type", "application/json").send(body);
}

}  // namespace

int main(int argc, char** argv) {
  http::ServerOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--listen" && i + 1 < argc) {
      auto addr = net::InetAddress::parse(argv[++i]);
      if (!addr) {
        std::fprintf(stderr, "json-api: bad --listen address '%s'\n", argv[i]);
        return 2;
      }
      options.tcp.listen.push_back(*addr);
    } else if (arg == "--threads" && i + 1 < argc) {
      options.tcp.threads = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s --listen ADDR:PORT [--threads N]\n", argv[0]);
      return 2;
    }
  }
  if (options.tcp.listen.empty()) {
    std::fprintf(stderr, "usage: %s --listen ADDR:PORT [--threads N]\n", argv[0]);
    return 2;
  }
  Store store;
  http::Router router;
  router.get("/todos",
             [&](http::ServerRequest&, http::Response& res) { send_json(res, 200, store.list()); });
  router.post("/todos", [&](http::ServerRequest& req, http::Response& res) {
    if (req.body.empty()) return send_json(res, 400, "{\"error\":\"empty title\"}");
    send_json(res, 201, store.add(req.body));
  });
  router.get("/todos/:id", [&](http::ServerRequest& req, http::Response& res) {
    long id = 0;
    std::string item;
    if (!parse_id(req.param("id"), id) || !store.get(id, item))
      return send_json(res, 404, "{\"error\":\"no such item\"}");
    send_json(res, 200, item);
  });
  router.del("/todos/:id", [&](http::ServerRequest& req, http::Response& res) {
    long id = 0;
    if (!parse_id(req.param("id"), id) || !store.remove(id))
      return send_json(res, 404, "{\"error\":\"no such item\"}");
    res.status(204).send_head_only(0, false);
  });
  router.get("/todos/:id/slow", [&](http::ServerRequest& req, http::Response& res) {
    long id = 0;
    parse_id(req.param("id"), id);
    // Answer from another thread, later; the connection answers nothing else meanwhile.
    std::thread([later = res.defer(), id, &store]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::string item;
      if (store.get(id, item))
        later.send(200, {{"Content-Type", "application/json"}}, item);
      else
        later.send(404, {{"Content-Type", "application/json"}}, "{\"error\":\"no such item\"}");
    }).detach();
  });

  ::signal(SIGPIPE, SIG_IGN);
  EventLoop main_loop;
  SignalWatcher signals(main_loop, {SIGINT, SIGTERM}, [&](int) { main_loop.stop(); });
  http::HttpServer server(options, router);
  if (auto st = server.start(); !st) {
    std::fprintf(stderr, "json-api: cannot listen: %s\n", st.error().message().c_str());
    return 1;
  }
  std::printf("json-api listening on port %u\n", server.port());
  std::fflush(stdout);
  main_loop.run();
  server.stop(std::chrono::seconds(5));
  return 0;
}
