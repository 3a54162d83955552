"""socketify.py's hello (its own App API over uWebSockets): python http_socketify.py PORT

13-byte body with Content-Type; socketify adds Content-Length. One process.
"""

import sys

from socketify import App


def main() -> None:
    port = int(sys.argv[1])
    app = App()

    def hello(res, req):
        res.write_header("Content-Type", "text/plain; charset=utf-8")
        res.end("Hello, World!")

    app.get("/", hello)
    app.listen(port, lambda config: print("ready", flush=True))
    app.run()


if __name__ == "__main__":
    main()
