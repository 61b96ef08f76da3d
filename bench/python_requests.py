#!/usr/bin/env python3
"""get_run round trips per second with Python requests.Session, for scale.

The same loop as bench/loopback.cpp (one keep-alive connection, the same GET and headers, the
body decoded as JSON as the SDK does) against the same cpp-httplib server, which this script
starts from the loopback benchmark binary in its --serve mode:

    /usr/bin/python3 bench/python_requests.py build-bench/bench/runbase_bench_loopback

Options: --seconds S per round (default 2), --rounds N (default 5). Needs Debian's
python3-requests (apt-get install python3-requests).
"""

import argparse
import statistics
import subprocess
import sys
import time

import requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", help="path to runbase_bench_loopback")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    serve_for = args.rounds * args.seconds + 30
    server = subprocess.Popen([args.server, "--serve", str(serve_for)], stdout=subprocess.PIPE,
                              text=True)
    try:
        line = server.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            print("the server did not report its port", file=sys.stderr)
            return 1
        url = f"http://127.0.0.1:{line[1]}/api/v1/runs/run_01J9Z8Q4X2V7"
        session = requests.Session()
        session.headers.update({
            "Authorization": "Bearer sk-bench-0123456789abcdef",
            "Accept": "application/json",
            "User-Agent": "runbase-cpp/0.1.0",
        })

        def call() -> None:
            response = session.get(url, timeout=10)
            if response.status_code != 200 or response.json()["status"] != "succeeded":
                raise RuntimeError(f"unexpected reply {response.status_code}")

        def timed(seconds: float) -> float:
            count = 0
            start = time.perf_counter()
            until = start + seconds
            now = start
            while now < until:
                for _ in range(20):
                    call()
                count += 20
                now = time.perf_counter()
            return count / (now - start)

        timed(0.3)  # warm-up: the connection is opened here and kept
        rates = []
        print(f"{'round':<6} {'requests get/s':>16}")
        for round_number in range(1, args.rounds + 1):
            rate = timed(args.seconds)
            rates.append(rate)
            print(f"{round_number:<6} {rate:16.0f}")
        median = statistics.median(rates)
        print(f"{'median':<6} {median:16.0f}")
        print(f"requests {requests.__version__} on Python {sys.version.split()[0]}: "
              f"{1e6 / median:.1f} us per get")
        return 0
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
