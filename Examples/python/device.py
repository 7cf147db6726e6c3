#!/usr/bin/env python3
"""A Web Push device over MQTT, written with the Python ecosystem's libraries.

It makes its own Web Push keys, subscribes at Pushgate (POST /subscribe), writes the
subscription ({"endpoint", "keys"}) for the application server, then listens on its MQTT topic,
says "ready" (an empty message on its acknowledgement topic: Pushgate then sends the Topic
messages it holds), decrypts each message with http-ece and acknowledges it on the MQTT 5
response topic.

    .venv/bin/python Examples/python/device.py --out subscription.json [--count N]

Defaults fit `make run`: Pushgate at http://127.0.0.1:8080, broker at 127.0.0.1:1883.
"""
import argparse
import base64
import json
import os
import sys
import threading

import http_ece
import paho.mqtt.client as mqtt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushgate", default="http://127.0.0.1:8080")
    parser.add_argument("--broker-host", default="127.0.0.1")
    parser.add_argument("--broker-port", type=int, default=1883)
    parser.add_argument("--username", help="MQTT user name, if the broker wants one")
    parser.add_argument("--password", help="MQTT password (or set MQTT_PASSWORD)")
    parser.add_argument("--ca-file", help="connect with TLS, trusting this PEM CA file")
    parser.add_argument("--out", default="subscription.json", help="where to write the subscription for the sender")
    parser.add_argument("--count", type=int, default=0, help="exit after this many messages (0: run forever)")
    parser.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: never)")
    args = parser.parse_args()

    private_key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    p256dh = private_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

    response = requests.post(f"{args.pushgate}/subscribe", timeout=10)
    response.raise_for_status()
    subscription = response.json()
    with open(args.out, "w") as f:
        json.dump({"endpoint": subscription["endpoint"], "keys": {"p256dh": b64url(p256dh), "auth": b64url(auth)}}, f)

    done = threading.Event()
    received = 0
    refused = []

    def on_connect(client, userdata, flags, reason, properties):
        if reason.is_failure:
            # Say why, instead of waiting silently (e.g. "Not authorized": give --username/--password).
            print(f"broker refused the connection: {reason}", file=sys.stderr, flush=True)
            refused.append(reason)
            done.set()
            return
        client.subscribe(subscription["mqtt_topic"], qos=1)

    def on_subscribe(client, userdata, mid, reasons, properties):
        client.publish(subscription["mqtt_ack_topic"], b"", qos=1)   # "ready": send what is held
        print("ready", flush=True)

    def on_message(client, userdata, message):
        nonlocal received
        urgency = message.topic.rsplit("/", 1)[1]
        if not message.payload:
            print(f"message ({urgency}): (empty)", flush=True)     # a push without a body is legal
        else:
            try:
                text = http_ece.decrypt(bytes(message.payload), private_key=private_key, auth_secret=auth, version="aes128gcm")
                print(f"message ({urgency}): {text.decode(errors='replace')}", flush=True)
            except Exception as error:                              # never let one message end the MQTT thread
                print(f"undecryptable message ({urgency}): {error}", flush=True)
        props = message.properties
        if getattr(props, "ResponseTopic", None):
            ack = Properties(PacketTypes.PUBLISH)
            ack.CorrelationData = props.CorrelationData
            client.publish(props.ResponseTopic, b"", qos=1, properties=ack)
        received += 1
        if args.count and received >= args.count:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"example-device-{os.getpid()}", protocol=mqtt.MQTTv5)
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    if args.username:
        client.username_pw_set(args.username, args.password or os.environ.get("MQTT_PASSWORD"))
    if args.ca_file:
        client.tls_set(ca_certs=args.ca_file)
    client.connect(args.broker_host, args.broker_port)
    client.loop_start()
    finished = done.wait(args.timeout or None)
    client.disconnect()
    client.loop_stop()
    if refused:
        return 1
    return 0 if finished or not args.count else 1


if __name__ == "__main__":
    sys.exit(main())
