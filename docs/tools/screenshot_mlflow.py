"""Screenshot the MLflow runs view with every parent run expanded (for the README; not a dependency).

Needs Debian's `chromium` and the `websocket-client` package in the Python that runs it:
    python docs/tools/screenshot_mlflow.py http://127.0.0.1:5000 1 docs/figures/mlflow_runs.png [width]
The image is clipped to ``width`` CSS pixels from the left, leaving out MLflow 3.17's assistant panel.
"""

import base64
import itertools
import json
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

EXPAND = """
(() => {
  // the expander of a parent run: the icon button in its run-name cell, showing a "+" while collapsed
  const buttons = [...document.querySelectorAll('button[data-component-id*="runnamecellrenderer"]')].filter(
    b => b.querySelector('path[d^="M7.25 7.25V4.5"]'));
  buttons.forEach(b => b.click());
  return buttons.length;
})()
"""


def main(ui: str, experiment_id: str, out: str, width: str = "1335") -> None:
    width = int(width)
    url = f"{ui}/#/experiments/{experiment_id}?workflowType=machine_learning"
    with tempfile.TemporaryDirectory() as profile:
        chrome = subprocess.Popen(
            [
                "chromium",
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--remote-debugging-port=9333",
                f"--user-data-dir={profile}",
                "--window-size=1800,1000",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(50):
                try:
                    pages = json.loads(urllib.request.urlopen("http://127.0.0.1:9333/json").read())
                    break
                except OSError:
                    time.sleep(0.2)
            page = next(p for p in pages if p["type"] == "page")
            ws = websocket.create_connection(page["webSocketDebuggerUrl"], suppress_origin=True)
            ids = itertools.count(1)

            def call(method, **params):
                i = next(ids)
                ws.send(json.dumps({"id": i, "method": method, "params": params}))
                while True:
                    msg = json.loads(ws.recv())
                    if msg.get("id") == i:
                        return msg.get("result", {})

            call("Page.navigate", url=url)
            time.sleep(12)
            for _ in range(3):
                n = call("Runtime.evaluate", expression=EXPAND, returnByValue=True)["result"].get("value")
                time.sleep(3)
            clip = {"x": 0, "y": 0, "width": width, "height": 720, "scale": 1}  # without the assistant panel
            shot = call("Page.captureScreenshot", format="png", clip=clip)
            with open(out, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            print(f"{out}: clicked {n} expand buttons")
        finally:
            chrome.terminate()
            chrome.wait()


if __name__ == "__main__":
    main(*sys.argv[1:5])
