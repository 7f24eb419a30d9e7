"""Test cases for the Python tests run by Bazel as sh_test: each check is a JUnit test case
written to $XML_OUTPUT_FILE (tests/run.sh counts them), printed PASS or FAIL as it ends.

    cases = Cases("docs_test")
    cases.check("the README is short", readme_is_short)
    sys.exit(cases.finish())
"""
import os
import time
import traceback
from xml.sax.saxutils import escape


class Cases:
    def __init__(self, suite):
        self.suite = suite
        self.results = []  # (name, error text or None, seconds)

    def check(self, name, fn):
        """Runs fn(); an exception fails the case (its traceback is kept)."""
        start = time.time()
        try:
            fn()
            self.results.append((name, None, time.time() - start))
            print(f"PASS {name} ({time.time() - start:.1f} s)", flush=True)
        except Exception:
            self.results.append((name, traceback.format_exc(), time.time() - start))
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)

    def fail(self, name, error):
        """Records a failure found outside a check (setting up, say)."""
        self.results.append((name, error, 0))
        print(f"FAIL {name}\n{error}", flush=True)

    @property
    def failed(self):
        return sum(1 for _, err, _ in self.results if err)

    def finish(self):
        """Writes the JUnit XML and the summary line; returns the exit status."""
        n, failed = len(self.results), self.failed
        xml_path = os.environ.get("XML_OUTPUT_FILE")
        if xml_path:
            with open(xml_path, "w") as f:
                f.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites tests="{n}" '
                        f'failures="{failed}" errors="0">\n<testsuite name="{self.suite}" '
                        f'tests="{n}" failures="{failed}" errors="0">\n')
                for name, err, secs in self.results:
                    f.write(f'<testcase name="{escape(name, {chr(34): "&quot;"})}" '
                            f'time="{secs:.1f}">')
                    if err:
                        f.write(f'<failure message="failed">{escape(err)}</failure>')
                    f.write("</testcase>\n")
                f.write("</testsuite>\n</testsuites>\n")
        print(f"{n - failed} passed, {failed} failed")
        return 1 if failed else 0
