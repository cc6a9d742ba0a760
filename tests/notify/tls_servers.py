"""TLS servers for the notifier's TLS tests (Python's ssl; run with /usr/bin/python3, which
has Debian's python3-aiosmtpd).

Usage:
  tls_servers.py https PORT CERT KEY OUT_DIR [CLIENT_CA]
      An HTTPS receiver on 127.0.0.1: every POST body is written to OUT_DIR as one file
      (NNNN.json) and answered 200. With CLIENT_CA, a client certificate signed by it is
      required (mutual TLS).
  tls_servers.py smtp-starttls PORT CERT KEY OUT_DIR
      An SMTP server that offers and requires STARTTLS.
  tls_servers.py smtp-tls PORT CERT KEY OUT_DIR
      An SMTP server speaking TLS from the first byte (SMTPS).

The SMTP servers write one JSON file per message (envelope and subject) into OUT_DIR.
"""

import email
import email.policy
import http.server
import json
import logging
import os
import signal
import ssl
import sys
import threading
import warnings


class Files:
    """Numbered files in a directory, each written whole (a temp name, then a rename)."""

    def __init__(self, out):
        self.out = out
        self.count = 0
        self.lock = threading.Lock()

    def write(self, data):
        with self.lock:
            self.count += 1
            n = self.count
        tmp = os.path.join(self.out, ".%04d.tmp" % n)
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.out, "%04d.json" % n))


def server_context(cert, key, client_ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx


def https(port, cert, key, out, client_ca):
    files = Files(out)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            files.write(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def get_request(self):
            sock, addr = self.socket.accept()
            # The handshake runs in the handler's thread: a client that fails it does not
            # hold up the others.
            return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

        def finish_request(self, request, client_address):
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as e:
                print("handshake failed: %s" % e, flush=True)
                return
            super().finish_request(request, client_address)

        def handle_error(self, request, client_address):
            pass

    ctx = server_context(cert, key, client_ca)
    server = Server(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.shutdown


def smtp(mode, port, cert, key, out):
    from aiosmtpd.controller import Controller

    files = Files(out)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            doc = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "subject": str(msg["subject"]),
                # STARTTLS sets session.ssl; implicit TLS is in the transport from the start.
                "tls": session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
            }
            files.write(json.dumps(doc).encode())
            return "250 OK"

    ctx = server_context(cert, key)
    if mode == "smtp-starttls":
        kwargs = dict(tls_context=ctx, require_starttls=True)
    else:
        kwargs = dict(ssl_context=ctx)
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller.stop


def main():
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    mode, port, cert, key, out = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
    if mode == "https":
        stop_server = https(port, cert, key, out, sys.argv[6] if len(sys.argv) > 6 else None)
    else:
        stop_server = smtp(mode, port, cert, key, out)
    print("listening", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    stop_server()


if __name__ == "__main__":
    main()
