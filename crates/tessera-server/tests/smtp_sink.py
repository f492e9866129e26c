"""A real SMTP server for the e-mail tests: aiosmtpd on 127.0.0.1:PORT, storing each message it
accepts as one JSON file in DIR ({"from", "to", "subject", "text", "html"}, bodies decoded), so a
test can read what arrived. Prints "ready" once it accepts connections; exits when its standard
input closes (the test process ended) or on SIGTERM.

Usage: python3 smtp_sink.py PORT DIR
"""

import email
import email.policy
import json
import os
import sys
import time
import uuid

from aiosmtpd.controller import Controller


class Store:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        parts = {"text/plain": "", "text/html": ""}
        for part in message.walk():
            kind = part.get_content_type()
            if kind in parts and not part.is_multipart():
                parts[kind] = part.get_content()
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(message.get("Subject", "")),
            "text": parts["text/plain"],
            "html": parts["text/html"],
        }
        name = "%d-%s.json" % (time.time_ns(), uuid.uuid4().hex)
        tmp = os.path.join(self.directory, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        # Renamed into place: a reader never sees half a file.
        os.replace(tmp, os.path.join(self.directory, name))
        return "250 OK"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Store(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
