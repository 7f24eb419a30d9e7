"""The processes of an end-to-end Python test (an embedded PostgreSQL, nas-controller,
nas-trainer workers, Prometheus), started with their logs in a temporary directory and
stopped in reverse order.

    stack = Stack(tmp)
    stack.pg_dir = os.path.join(tmp, "postgres")
    stack.start("controller", [CONTROLLER, ...])
    ...
    stack.stop()
"""
import os
import signal
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout):
    """Polls check() until it is true; AssertionError after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Stack:
    """The processes of the test, stopped in reverse order; `embedded_pg` stops pg_dir."""

    def __init__(self, tmp, embedded_pg, **env):
        self.tmp = tmp
        self.embedded_pg = embedded_pg
        self.procs = []
        self.pg_dir = None
        self.env = dict(os.environ, OPENBLAS_NUM_THREADS="1", HOME=tmp, **env)

    def start(self, name, argv):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        self.procs.append((name, p))
        return p

    def check_alive(self):
        for name, p in self.procs:
            if p.poll() is not None:
                raise AssertionError(f"{name} exited with {p.returncode}:\n{self.log(name)[-3000:]}")

    def log(self, name):
        with open(os.path.join(self.tmp, name + ".log")) as f:
            return f.read()

    def stop(self):
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.pg_dir:
            subprocess.run([self.embedded_pg, "stop", self.pg_dir], check=False)
