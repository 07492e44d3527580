"""A headless Chromium that a Rust test drives line by line, through Playwright (PyPI) and the
DevTools protocol: Debian's /usr/bin/chromium, no browser download.

Each request on stdin is one JSON object with an "op"; each answer on stdout is one JSON line,
{"ok": true, ...} or {"ok": false, "error": "..."}. Ops:
  goto {url}                      open a page and wait for its load event
  wait {selector, timeout_ms}     wait until the selector matches a visible element
  wait_js {js, timeout_ms}        wait until the expression is truthy (answers "elapsed_ms")
  eval {js}                       the expression's value ("value")
  screenshot {path}               a full-page PNG
  quit
"""

import json
import os
import sys
import time

from playwright.sync_api import sync_playwright

# What keeps Chromium from calling out of this machine (see the environment notes).
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main():
    executable = os.environ.get("CHATPULSE_TEST_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        console = []
        page.on("console", lambda m: console.append(m.text))
        page.on("pageerror", lambda e: console.append("page error: " + str(e)))
        for line in sys.stdin:
            if not line.strip():
                continue
            req = json.loads(line)
            op = req["op"]
            try:
                if op == "quit":
                    answer = {"ok": True}
                elif op == "goto":
                    page.goto(req["url"], wait_until="load")
                    answer = {"ok": True}
                elif op == "wait":
                    page.wait_for_selector(req["selector"], timeout=req.get("timeout_ms", 30000),
                                           state=req.get("state", "attached"))
                    answer = {"ok": True}
                elif op == "wait_js":
                    start = time.monotonic()
                    page.wait_for_function(req["js"], timeout=req.get("timeout_ms", 30000),
                                           polling=50)
                    answer = {"ok": True, "elapsed_ms": (time.monotonic() - start) * 1000}
                elif op == "eval":
                    answer = {"ok": True, "value": page.evaluate(req["js"])}
                elif op == "screenshot":
                    page.screenshot(path=req["path"], full_page=True)
                    answer = {"ok": True}
                else:
                    answer = {"ok": False, "error": "unknown op " + op}
            except Exception as e:  # the test prints it with the page's console
                answer = {"ok": False, "error": str(e), "console": console[-20:]}
            print(json.dumps(answer), flush=True)
            if op == "quit":
                break
        browser.close()


if __name__ == "__main__":
    main()
