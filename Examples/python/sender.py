#!/usr/bin/env python3
"""An application server sending one Web Push message with pywebpush (RFC 8291 encryption,
RFC 8292 VAPID), exactly as it would to any push service.

    .venv/bin/python Examples/python/sender.py --subscription subscription.json --message 'hello'

With --receipt it asks for a delivery receipt (RFC 8030 §5.1): it creates a receipt subscription
(POST /receipts), pushes with `Prefer: respond-async` and the receipt Link (202), then waits on
the receipt subscription (server-sent events) and prints the receipt once the device has
acknowledged the message (204) or it expired (410).
"""
import argparse
import json
import sys
from urllib.parse import urlsplit

import httpx
import py_vapid
from pywebpush import webpush


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscription", default="subscription.json")
    parser.add_argument("--message", default="Hello from pywebpush")
    parser.add_argument("--vapid-key", help="PEM file of the application server's VAPID key (a new one if absent)")
    parser.add_argument("--ttl", type=int, default=60)
    parser.add_argument("--urgency", default="normal")
    parser.add_argument("--receipt", action="store_true", help="ask for a delivery receipt and wait for it")
    args = parser.parse_args()

    with open(args.subscription) as f:
        subscription = json.load(f)
    if args.vapid_key:
        vapid = py_vapid.Vapid02.from_file(args.vapid_key)
    else:
        vapid = py_vapid.Vapid02()
        vapid.generate_keys()
    headers = {"Urgency": args.urgency}
    receipts = None
    if args.receipt:
        parts = urlsplit(subscription["endpoint"])
        origin = f"{parts.scheme}://{parts.netloc}"
        claims = vapid.sign({"aud": origin, "sub": "mailto:ops@example.com"})
        created = httpx.post(f"{origin}/receipts", headers={"Authorization": claims["Authorization"]})
        created.raise_for_status()
        receipts = created.headers["Location"]
        headers |= {"Prefer": "respond-async", "Link": f'<{receipts}>; rel="urn:ietf:params:push:receipt"'}
    response = webpush(subscription, data=args.message, vapid_private_key=vapid,
                       vapid_claims={"sub": "mailto:ops@example.com"}, ttl=args.ttl, headers=headers)
    print(f"HTTP {response.status_code} {response.headers.get('Location', '')}", flush=True)
    if response.status_code not in (201, 202):
        return 1
    if receipts:
        with httpx.stream("GET", receipts, headers={"Accept": "text/event-stream"}, timeout=args.ttl + 30) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    receipt = json.loads(line[6:])
                    print(f"receipt: {receipt['status']} for {receipt['message']}")
                    return 0 if receipt["status"] == 204 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
