"""bjoern serving the WSGI hello (http_wsgi_app.py): python http_bjoern.py PORT

bjoern (PyPI, built against Debian's libev-dev) runs in this one process;
SIGTERM stops it.
"""

import signal
import sys

import bjoern
from http_wsgi_app import app


def main() -> None:
    port = int(sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    bjoern.run(app, "127.0.0.1", port)


if __name__ == "__main__":
    main()
