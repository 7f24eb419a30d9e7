#!/usr/bin/python3
"""The programs' command lines, as a newcomer meets them (no server needed):
  - --help prints the program's usage once (not "nasctl: nasctl:") and its own flags, exit 0;
  - a mistyped flag is a usage error: exit 2, naming the flag and the closest one;
  - nasctl's usage errors (an unknown command, a missing id) exit 2 as its help says.
Each check is a JUnit test case (in $XML_OUTPUT_FILE, read by tests/run.sh).
"""
import os
import subprocess
import sys

ROOT = os.getcwd()
sys.path.insert(0, os.path.join(ROOT, "tests"))
from junit_cases import Cases  # noqa: E402
NASCTL = os.path.join(ROOT, "cli/nasctl")
TRAINER = os.path.join(ROOT, "trainer/nas-trainer")
CONTROLLER = os.path.join(ROOT, "services/nas-controller")
PROFILER = os.path.join(ROOT, "trainer/nas-profile")


def run(argv):
    env = dict(os.environ, NAS_SERVER="127.0.0.1:1", NAS_TOKEN="x")
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


def help_of(binary, name, must_list):
    r = run([binary, "--help"])
    assert r.returncode == 0, (r.returncode, r.stderr)
    out = r.stdout
    assert out.startswith(f"{name}: "), out[:200]
    assert f"{name}: {name}:" not in out, out[:200]
    assert "No flags matched" not in out + r.stderr, out + r.stderr
    assert "Usage: " in out, out[:400]
    for flag in must_list:
        assert f"  --{flag}" in out, f"--{flag} not listed:\n{out}"
    assert "--flagfile" not in out and "--v " not in out, "another library's flags listed"
    assert r.stderr == "", r.stderr
    r2 = run([binary, "-h"])
    assert r2.returncode == 0 and r2.stdout == out, r2


def mistyped(binary, name, typo, meant):
    r = run([binary, f"--{typo}=3", "list"])
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    line = r.stderr.strip()
    assert line.startswith(f"{name}: unknown flag --{typo}"), line
    assert f"did you mean --{meant}?" in line, line
    assert "\n" not in line, line


def main():
    cases = Cases("cli_usage_test")
    check = cases.check

    check("nasctl --help: usage once, nasctl's flags, exit 0",
          lambda: help_of(NASCTL, "nasctl", ["server", "candidates", "batch_size", "optimizer",
                                             "warm_start", "add_candidates"]))
    check("nas-trainer --help: usage and its flags, no warning",
          lambda: help_of(TRAINER, "nas-trainer", ["controller", "dataset", "threads"]))
    check("nas-controller --help: usage and its flags",
          lambda: help_of(CONTROLLER, "nas-controller", ["listen", "database_url"]))
    check("nas-profile --help: usage and its flags",
          lambda: help_of(PROFILER, "nas-profile", ["space_spec", "out"]))
    check("nasctl: a mistyped flag exits 2 and suggests the flag",
          lambda: mistyped(NASCTL, "nasctl", "cnadidates", "candidates"))
    check("nasctl: a flag given by the start of its name is suggested whole",
          lambda: mistyped(NASCTL, "nasctl", "batch", "batch_size"))
    check("nas-trainer: a mistyped flag exits 2 and suggests the flag",
          lambda: mistyped(TRAINER, "nas-trainer", "controler", "controller"))

    def usage_errors_exit_2():
        for args in (["frobnicate"], ["get"], ["get", "x"], ["extend", "1"]):
            r = run([NASCTL] + args)
            assert r.returncode == 2, (args, r.returncode, r.stderr)
            assert r.stderr.startswith("nasctl: ") and r.stderr.count("\n") == 1, r.stderr
        r = run([NASCTL, "--optimizer=adam", "submit"])
        assert r.returncode == 2 and "neither sgd nor adamw" in r.stderr, r.stderr
    check("nasctl: usage errors exit 2 with one line", usage_errors_exit_2)

    return cases.finish()


if __name__ == "__main__":
    sys.exit(main())
