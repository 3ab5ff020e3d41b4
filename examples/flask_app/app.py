"""A small Flask app for capacity tests: each request does a fixed amount of work.

`/work` waits WAIT_MS (a sleep standing for a database call) and then burns
CPU_MS of CPU time (a CPU-bound part, e.g. rendering). Under Gunicorn with sync
workers one worker serves one request at a time, so a worker's capacity is about
1000 / (WAIT_MS + CPU_MS) requests per second, as long as the CPU parts of all
workers fit on the machine's cores.

Run:  gunicorn --workers 4 --worker-class sync --bind 127.0.0.1:8000 app:app
"""
import os
import time

from flask import Flask, jsonify

WAIT_MS = float(os.environ.get("WAIT_MS", "45"))
CPU_MS = float(os.environ.get("CPU_MS", "5"))

app = Flask(__name__)


def burn_cpu(ms: float) -> int:
    """Spin until this thread has used `ms` of CPU time; returns the loop count."""
    deadline = time.thread_time() + ms / 1000.0
    n = 0
    while time.thread_time() < deadline:
        n += 1
    return n


@app.get("/work")
def work():
    time.sleep(WAIT_MS / 1000.0)
    loops = burn_cpu(CPU_MS)
    return jsonify(wait_ms=WAIT_MS, cpu_ms=CPU_MS, loops=loops)


@app.get("/health")
def health():
    return "ok\n"
