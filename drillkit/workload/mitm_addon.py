"""A mitmproxy addon that writes the requests of a flow file as JSON Lines, for drillkit.

``drillkit traffic import FLOWS`` runs it inside the user's own mitmproxy, so that the flow
file is read by mitmproxy's own reader (whatever version wrote it):

    mitmdump -q -n -r FLOWS -s mitm_addon.py --set drillkit_out=OUT.jsonl

One line per request: its start time (epoch s), method, path, the body (decoded from any
content encoding, base64) and only the headers that describe that body; credentials and
cookies never leave mitmproxy. This file runs in mitmproxy's interpreter: it imports nothing
of drillkit.
"""

import base64
import json

from mitmproxy import ctx, http

KEPT_HEADERS = ("inference-header-content-length", "content-type")


class DrillkitTrace:
    def load(self, loader):  # type: ignore[no-untyped-def]
        loader.add_option("drillkit_out", str, "", "JSON Lines file the requests are appended to")

    def request(self, flow: http.HTTPFlow) -> None:
        r = flow.request
        body = r.get_content(strict=False) or b""
        headers = {k.lower(): v for k, v in r.headers.items() if k.lower() in KEPT_HEADERS}
        line = {"at": r.timestamp_start, "method": r.method, "path": r.path, "headers": headers,
                "body": base64.b64encode(body).decode("ascii")}
        with open(ctx.options.drillkit_out, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


addons = [DrillkitTrace()]
