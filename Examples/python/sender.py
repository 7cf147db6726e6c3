#!/usr/bin/env python3
"""An application server sending one Web Push message with pywebpush (RFC 8291 encryption,
RFC 8292 VAPID), exactly as it would to any push service.

    .venv/bin/python Examples/python/sender.py --subscription subscription.json --message 'hello'
"""
import argparse
import json
import sys

import py_vapid
from pywebpush import webpush


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscription", default="subscription.json")
    parser.add_argument("--message", default="Hello from pywebpush")
    parser.add_argument("--vapid-key", help="PEM file of the application server's VAPID key (a new one if absent)")
    parser.add_argument("--ttl", type=int, default=60)
    parser.add_argument("--urgency", default="normal")
    args = parser.parse_args()

    with open(args.subscription) as f:
        subscription = json.load(f)
    if args.vapid_key:
        vapid = py_vapid.Vapid02.from_file(args.vapid_key)
    else:
        vapid = py_vapid.Vapid02()
        vapid.generate_keys()
    response = webpush(subscription, data=args.message, vapid_private_key=vapid,
                       vapid_claims={"sub": "mailto:ops@example.com"}, ttl=args.ttl, headers={"Urgency": args.urgency})
    print(f"HTTP {response.status_code} {response.headers.get('Location', '')}")
    return 0 if response.status_code in (201, 202) else 1


if __name__ == "__main__":
    sys.exit(main())
