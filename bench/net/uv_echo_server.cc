// uv-echo-server PORT: a minimal echo server on libuv's public API, the peer
// for pingpong.sh. One loop, TCP_NODELAY, 64 KiB read buffers.
#include <uv.h>

#include <cstdio>
#include <cstdlib>

namespace {

struct WriteReq {
  uv_write_t req;
  uv_buf_t buf;
};

void on_close(uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); }

void alloc_buffer(uv_handle_t*, size_t, uv_buf_t* buf) {
  buf->base = static_cast<char*>(std::malloc(65536));
  buf->len = 65536;
}

void on_write(uv_write_t* req, int) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  std::free(w->buf.base);
  delete w;
}

void on_read(uv_stream_t* client, ssize_t nread, const uv_buf_t* buf) {
  if (nread > 0) {
    auto* w = new WriteReq;
    w->buf = uv_buf_init(buf->base, static_cast<unsigned>(nread));
    uv_write(&w->req, client, &w->buf, 1, on_write);
    return;
  }
  std::free(buf->base);
  if (nread < 0) uv_close(reinterpret_cast<uv_handle_t*>(client), on_close);
}

void on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* client = new uv_tcp_t;
  uv_tcp_init(server->loop, client);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(client)) == 0) {
    uv_tcp_nodelay(client, 1);
    uv_read_start(reinterpret_cast<uv_stream_t*>(client), alloc_buffer, on_read);
  } else {
    uv_close(reinterpret_cast<uv_handle_t*>(client), on_close);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  uv_loop_t* loop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", std::atoi(argv[1]), &addr);
  if (uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&addr), 0) != 0 ||
      uv_listen(reinterpret_cast<uv_stream_t*>(&server), 4096, on_connection) != 0) {
    std::fprintf(stderr, "uv-echo-server: cannot listen\n");
    return 1;
  }
  std::printf("uv-echo-server listening on port %s\n", argv[1]);
  std::fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
