"""locust's side of benchmarks/loadgen.py: FastHttpUser (geventhttpclient),
each user one keep-alive connection that GETs LOADGEN_PATH (default
/hello.txt) again as soon as the answer is in, no think time. Run by
loadgen.py, one process, headless:

    locust -f loadgen_locustfile.py --headless --users 100 --spawn-rate 100 \\
        -t 5s --host http://127.0.0.1:PORT --json --only-summary
"""

import os

from locust import FastHttpUser, constant, task

PATH = os.environ.get("LOADGEN_PATH", "/hello.txt")


class Hello(FastHttpUser):
    wait_time = constant(0)

    @task
    def hello(self):
        self.client.get(PATH)
