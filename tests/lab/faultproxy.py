#!/usr/bin/python3
"""faultproxy: a TLS-terminating reverse proxy in front of Pebble that misbehaves on purpose.

    faultproxy.py --listen 127.0.0.1:PORT --cert C --key K \
        --upstream https://127.0.0.1:PEBBLEPORT --upstream-ca CA.pem \
        --mode MODE [--match REGEX] [--count N] [--ready-file F] [--log F] [mode options]

Every request is forwarded to the upstream with the client's Host header untouched (Pebble builds
every URL it returns from Host, so the client keeps talking to the proxy). The fault of --mode is
applied to requests/responses whose request path (with query) matches --match (re.search; default:
every path) and whose method is --method (default: any); of those, the first --skip pass untouched
(so --skip 2 --count 1 faults the third hit only), then --count are faulted (default: no limit),
then everything passes through. For the modes that rewrite a response, a hit is a matching
response of the shape the mode rewrites (a JSON object, a certificate chain, a non-empty body).

Modes:
  pass           no change
  bad-json       body of JSON responses replaced by malformed JSON (--bad-json-body), same status
  not-directory  GET answered with the directory JSON becomes 200 text/html <html>hello</html>
  no-neworder    directory JSON with "newOrder" removed
  bad-token      every challenge "token" of authorization JSON replaced by --token
  huge-body      response body replaced by --size bytes of 'a' (streamed, correct Content-Length)
  problem        answered here (not forwarded, unless --forward-first): --status,
                 application/problem+json {"type","detail","status"[,"subproblems"]
                 [,"instance" (--instance)]}, a fresh
                 Replay-Nonce from the upstream, Retry-After when --retry-after is given
  status         answered here with --status and an empty body (Retry-After if given)
  delay          sleep --delay seconds, then forward
  drop           close the connection without answering (--forward-first: after forwarding)
  headers        response headers changed: --set-header 'NAME: VALUE' (replaces NAME; repeatable),
                 --drop-header NAME (repeatable)
  truncate       the status line and headers announce the whole body (Content-Length), then only
                 the first --size bytes of it are sent (default: half) and the connection is
                 closed; --reset closes it with a TCP RST (SO_LINGER 0) instead of a FIN
  body           response body replaced by the bytes of --body-file (or the text of --body);
                 Content-Type set to --content-type when given; status kept
  json-set       in JSON object responses, each --set KEY=JSON sets member KEY to the JSON value
                 (e.g. --set status='"processing"', --set challenges=7); repeatable
  chain          certificate downloads (application/pem-certificate-chain) rewritten by --chain:
                 append-key (the proxy's own PRIVATE KEY block appended), der (the leaf as DER),
                 empty (no body), file (the bytes of --chain-file instead)

Renewal information (RFC 9773), independent of --mode: with --ari-window START,END (seconds from
the proxy's start, e.g. --ari-window=-7200,-3600 for a window in the past), --ari-status N or --ari-body TEXT, every directory
JSON gets "renewalInfo": "https://HOST/renewal-info" (HOST from the request) and the proxy answers
GET /renewal-info/CERTID itself: the window as JSON (with "explanationURL" when --ari-explanation is
given), or status N with an empty body, or TEXT as application/json; Retry-After: --ari-retry-after
when given. Without these options a CA's own renewalInfo passes through unchanged.

Every POST whose JWS payload is a JSON object with "replaces" (RFC 9773 newOrder) is logged with
" replaces=VALUE" appended to its line, and one with "profile" (draft-ietf-acme-profiles newOrder)
with " profile=VALUE", whatever the mode.

Profiles (draft-ietf-acme-profiles), independent of --mode: --profiles JSON (an object of name ->
description) becomes the directory's "meta": {"profiles": ...}; --order-profile NAME is set as
"profile" in every order object the upstream answers (one with "finalize"), as a CA that applies
another profile than the one asked for would answer.

With --log-nonces, every POST carrying a JWS is logged with " nonce=N sig=S" (its protected
header's nonce and the first 16 characters of its signature) and every answer carrying a
Replay-Nonce with " rnonce=R", so that a test can follow which nonce each retry used.

--port 0: `--listen 127.0.0.1:0` binds a free port; --ready-file gets the actual port (written
atomically once listening). --log gets one line per request, flushed:
    METHOD PATH STATUS fault=y|n        (STATUS is "-" when nothing was answered)
SIGTERM/SIGINT: stop at once, exit 0. Standard library only.
"""

import argparse
import base64
import http.client
import http.server
import json
import os
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

MODES = ("pass", "bad-json", "not-directory", "no-neworder", "bad-token", "huge-body",
         "problem", "status", "delay", "drop", "headers", "truncate", "body", "json-set", "chain")
# Modes that rewrite a forwarded response, decided once its shape is known.
REWRITE_MODES = ("bad-json", "not-directory", "no-neworder", "bad-token", "headers", "body",
                 "json-set", "chain")
CHAIN_TYPE = "application/pem-certificate-chain"

# Hop-by-hop and framing headers: never relayed as-is in either direction.
HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
       "proxy-authorization", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
       "content-length", "expect"}

ARI_PATH = "/renewal-info"
HANDSHAKE_TIMEOUT = 10.0
CHUNK = 64 * 1024
MAX_REQUEST_BODY = 16 * 1024 * 1024

stopping = threading.Event()


class Faults:
    """Decides, thread-safely, whether a fault applies (method and path match, then the --skip
    hits that pass, then the --count budget)."""

    def __init__(self, match, method, skip, count):
        self.match = re.compile(match) if match is not None else None
        self.method = method.upper() if method else None
        self.skip = skip
        self.left = count
        self.lock = threading.Lock()

    def matches(self, method, path):
        return (self.method is None or self.method == method) and \
            (self.match is None or self.match.search(path) is not None)

    def take(self, method, path):
        if not self.matches(method, path):
            return False
        with self.lock:
            if self.skip > 0:
                self.skip -= 1
                return False
            if self.left is None:
                return True
            if self.left <= 0:
                return False
            self.left -= 1
            return True


class RequestLog:
    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8") if path else None
        self.lock = threading.Lock()

    def write(self, method, path, status, fault, extra=""):
        if self.f is None:
            return
        line = "%s %s %s fault=%s%s\n" % (method, path.replace(" ", "%20"), status,
                                            "y" if fault else "n", extra)
        with self.lock:
            self.f.write(line)
            self.f.flush()


def payload_of(body):
    """The JSON object a JWS-signed POST carries as its payload (base64url), or None."""
    try:
        jws = json.loads(body.decode("utf-8"))
        payload = jws["payload"]
        payload += "=" * (-len(payload) % 4)
        doc = json.loads(base64.urlsafe_b64decode(payload.encode()).decode("utf-8"))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError):
        return None
    return doc if isinstance(doc, dict) else None


def jws_nonce_sig(body):
    """(the protected header's nonce, the first 16 characters of the signature) of a JWS POST, or
    (None, None)."""
    try:
        jws = json.loads(body.decode("utf-8"))
        prot = jws["protected"]
        prot += "=" * (-len(prot) % 4)
        hdr = json.loads(base64.urlsafe_b64decode(prot.encode()).decode("utf-8"))
        nonce, sig = hdr.get("nonce"), jws.get("signature")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError):
        return None, None
    return (nonce if isinstance(nonce, str) else None,
            sig[:16] if isinstance(sig, str) else None)


def payload_extra(body):
    """" replaces=V" and " profile=V" for the string members of a POST's payload that has them."""
    doc = payload_of(body)
    extra = ""
    for key in ("replaces", "profile"):
        if doc is not None and isinstance(doc.get(key), str):
            extra += " %s=%s" % (key, doc[key].replace(" ", "%20"))
    return extra


def nonce_extra(body):
    """" nonce=N sig=S" of a POST's JWS (--log-nonces)."""
    extra = ""
    nonce, sig = jws_nonce_sig(body)
    if nonce is not None:
        extra += " nonce=%s" % nonce.replace(" ", "%20")
    if sig is not None:
        extra += " sig=%s" % sig
    return extra


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def is_json(ctype):
    ctype = (ctype or "").split(";")[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")


def parse_json(body):
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"

    # --- plumbing -------------------------------------------------------------------------

    def setup(self):
        self.timeout = self.server.args.client_timeout
        super().setup()
        self.upstream = None

    def finish(self):
        try:
            super().finish()
        finally:
            self.close_upstream()

    def log_message(self, fmt, *a):
        if self.server.args.verbose:
            sys.stderr.write("faultproxy: %s\n" % (fmt % a))

    def close_upstream(self):
        if self.upstream is not None:
            try:
                self.upstream.close()
            except OSError:
                pass
            self.upstream = None

    def new_upstream(self):
        s = self.server
        return http.client.HTTPSConnection(s.up_host, s.up_port, context=s.up_ctx,
                                           timeout=s.args.upstream_timeout)

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("client closed mid-chunk")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_REQUEST_BODY:
                    raise ValueError("request body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(parts)
        n = self.headers.get("Content-Length")
        if n is None:
            return None
        n = int(n)
        if n < 0 or n > MAX_REQUEST_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(n) if n else b""

    def upstream_request(self, method, path, headers, body):
        """Returns (status, reason, [(name, value)...], body). Retries once on a stale
        keep-alive connection."""
        for attempt in (0, 1):
            reused = self.upstream is not None
            if self.upstream is None:
                self.upstream = self.new_upstream()
            c = self.upstream
            try:
                c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    c.putheader(k, v)
                if body is not None or method in ("POST", "PUT", "PATCH"):
                    c.putheader("Content-Length", str(len(body or b"")))
                c.endheaders(body or None)
                r = c.getresponse()
                data = r.read()
                hdrs = list(r.getheaders())
                if r.will_close:
                    self.close_upstream()
                return r.status, r.reason, hdrs, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                self.close_upstream()
                if attempt or not reused:
                    raise
            except Exception:
                self.close_upstream()
                raise

    def fresh_nonce(self):
        """A fresh Replay-Nonce from the upstream (HEAD on its newNonce URL)."""
        s = self.server
        hostport = "%s:%d" % (s.up_host, s.up_port)
        if s.nonce_path is None:
            st, _, _, body = self.upstream_request(
                "GET", s.dir_path, [("Host", hostport), ("Accept", "application/json")], None)
            d = parse_json(body) if st == 200 else None
            if not isinstance(d, dict) or not isinstance(d.get("newNonce"), str):
                return None
            u = urllib.parse.urlsplit(d["newNonce"])
            s.nonce_path = (u.path or "/") + ("?" + u.query if u.query else "")
        _, _, hdrs, _ = self.upstream_request("HEAD", s.nonce_path, [("Host", hostport)], None)
        for k, v in hdrs:
            if k.lower() == "replay-nonce":
                return v
        return None

    def logline(self, method, path, status, fault):
        extra = self.extra
        if self.server.args.log_nonces and self.rnonce:
            extra += " rnonce=%s" % self.rnonce
        self.server.rlog.write(method, path, status, fault, extra)

    def send_all(self, status, reason, headers, body, length=None, head=False):
        """Status line + headers (hop-by-hop stripped, Content-Length ours) + body."""
        self.send_response_only(status, reason)
        for k, v in headers:
            if k.lower() not in HOP:
                self.send_header(k, v)
            if k.lower() == "replay-nonce":
                self.rnonce = v
        if length is None:
            length = len(body)
        if not (100 <= status < 200 or status in (204, 304)):
            self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head and body:
            self.wfile.write(body)
        self.wfile.flush()

    # --- the request --------------------------------------------------------------------------

    def handle_any(self):
        a = self.server.args
        faults = self.server.faults
        method, path = self.command, self.path
        head = method == "HEAD"
        self.extra, self.rnonce = "", None
        try:
            body = self.read_body()
        except (ValueError, ConnectionError):
            self.close_connection = True
            self.send_all(400, "Bad Request", [("Content-Type", "text/plain")], b"bad body\n")
            self.logline(method, path, 400, False)
            return

        fwd = [(k, v) for k, v in self.headers.items()
               if k.lower() not in HOP and k.lower() != "accept-encoding"]

        if a.ari and method in ("GET", "HEAD") and path.startswith(ARI_PATH + "/"):
            self.answer_ari(a, method, path, head)
            return
        self.extra = payload_extra(body) if method == "POST" and body else ""
        if a.log_nonces and method == "POST" and body:
            self.extra += nonce_extra(body)

        # Faults decided before forwarding.
        fault = False
        if a.mode in ("problem", "status", "drop", "delay", "huge-body"):
            fault = faults.take(method, path)

        if fault and a.mode == "delay":
            stopping.wait(a.delay)
            if stopping.is_set():
                self.close_connection = True
                self.logline(method, path, "-", True)
                return

        answer_here = fault and a.mode in ("problem", "status", "drop")
        if not answer_here or a.forward_first:
            try:
                st, reason, hdrs, data = self.upstream_request(method, path, fwd, body)
            except (OSError, http.client.HTTPException) as e:
                msg = ("faultproxy: upstream: %s\n" % e).encode()
                self.close_connection = True
                self.send_all(502, "Bad Gateway", [("Content-Type", "text/plain")], msg,
                              head=head)
                self.logline(method, path, 502, fault)
                return

        if answer_here:
            if a.mode == "drop":
                self.close_connection = True
                self.logline(method, path, "-", True)
                return
            out = []
            if a.retry_after is not None:
                out.append(("Retry-After", a.retry_after))
            if a.mode == "status":
                self.send_all(a.status, None, out, b"", head=head)
                self.logline(method, path, a.status, True)
                return
            # problem
            try:
                nonce = self.fresh_nonce()
            except (OSError, http.client.HTTPException):
                nonce = None
            if nonce:
                out.append(("Replay-Nonce", nonce))
            out.append(("Cache-Control", "no-store"))
            out.append(("Content-Type", "application/problem+json"))
            prob = {"type": a.problem_type, "detail": a.detail, "status": a.status}
            if a.subproblems is not None:
                prob["subproblems"] = a.subproblems
            if a.instance is not None:
                prob["instance"] = a.instance
            self.send_all(a.status, None, out, json.dumps(prob, indent=2).encode() + b"\n",
                          head=head)
            self.logline(method, path, a.status, True)
            return

        if fault and a.mode == "huge-body":
            self.send_huge(method, path, st, reason, hdrs, head)
            return

        if a.mode == "truncate" and not head and data and faults.take(method, path):
            self.send_truncated(method, path, st, reason, hdrs, data)
            return

        # Response-rewriting faults: apply only where the response has the right shape.
        if a.mode == "headers":
            if faults.take(method, path):
                fault = True
                drop = {n.lower() for n in a.drop_header} | {n.lower() for n, _ in a.set_header}
                hdrs = [(k, v) for k, v in hdrs if k.lower() not in drop] + a.set_header
        elif a.mode in REWRITE_MODES and not head:
            ctype = next((v for k, v in hdrs if k.lower() == "content-type"), "")
            new = self.rewrite(a, method, ctype, data)
            if new is not None and faults.take(method, path):
                fault = True
                new_ctype, data = new
                if new_ctype:
                    hdrs = [(k, v) for k, v in hdrs if k.lower() != "content-type"]
                    hdrs.append(("Content-Type", new_ctype))

        length = None
        if head:  # a HEAD answer announces the length a GET would have
            cl = next((v for k, v in hdrs if k.lower() == "content-length"), None)
            length = int(cl) if cl is not None and cl.strip().isdigit() else 0
        if a.ari and not head and is_json(next((v for k, v in hdrs if k.lower() ==
                                                "content-type"), "")):
            doc = parse_json(data)
            if isinstance(doc, dict) and "newOrder" in doc:
                doc["renewalInfo"] = "https://%s%s" % (self.headers.get("Host", ""), ARI_PATH)
                data = json.dumps(doc, indent=2).encode()
        if (a.profiles is not None or a.order_profile is not None) and not head and \
                is_json(next((v for k, v in hdrs if k.lower() == "content-type"), "")):
            data = self.add_profiles(a, data)
        self.send_all(st, reason, hdrs, data, length=length, head=head)
        self.logline(method, path, st, fault)

    def add_profiles(self, a, data):
        """--profiles into a directory's meta, --order-profile into an order object."""
        doc = parse_json(data)
        if not isinstance(doc, dict):
            return data
        if a.profiles is not None and "newOrder" in doc:
            meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
            meta["profiles"] = a.profiles
            doc["meta"] = meta
        elif a.order_profile is not None and "finalize" in doc:
            doc["profile"] = a.order_profile
        else:
            return data
        return json.dumps(doc, indent=2).encode()

    def answer_ari(self, a, method, path, head):
        """The renewal information of --ari-*, answered here."""
        out = []
        if a.ari_retry_after is not None:
            out.append(("Retry-After", a.ari_retry_after))
        if a.ari_status is not None:
            self.send_all(a.ari_status, None, out, b"", head=head)
            self.logline(method, path, a.ari_status, True)
            return
        if a.ari_body is not None:
            body = a.ari_body.encode()
        else:
            base = self.server.started  # one window for the proxy's life, as a CA would keep it
            doc = {"suggestedWindow": {"start": rfc3339(base + a.ari_window[0]),
                                       "end": rfc3339(base + a.ari_window[1])}}
            if a.ari_explanation:
                doc["explanationURL"] = a.ari_explanation
            body = json.dumps(doc).encode()
        out.append(("Content-Type", "application/json"))
        self.send_all(200, None, out, body, head=head)
        self.logline(method, path, 200, True)

    def rewrite(self, a, method, ctype, data):
        """(new content type or None, new body) if MODE applies to this response, else None."""
        if a.mode == "body":
            return a.content_type, a.body
        if a.mode == "chain":
            if (ctype or "").split(";")[0].strip().lower() != CHAIN_TYPE:
                return None
            return None, self.rewrite_chain(a, data)
        if not is_json(ctype):
            return None
        if a.mode == "bad-json":
            return None, a.bad_json_body.encode()
        doc = parse_json(data)
        if not isinstance(doc, dict):
            return None
        if a.mode == "not-directory":
            if method == "GET" and "newOrder" in doc:
                return "text/html", b"<html>hello</html>"
        elif a.mode == "no-neworder":
            if "newOrder" in doc:
                del doc["newOrder"]
                return None, json.dumps(doc, indent=2).encode()
        elif a.mode == "json-set":
            doc.update(a.set)
            return None, json.dumps(doc, indent=2).encode()
        elif a.mode == "bad-token":
            ch = doc.get("challenges")
            if isinstance(ch, list):
                for c in ch:
                    if isinstance(c, dict):
                        c["token"] = a.token
                return None, json.dumps(doc, indent=2).encode()
        return None

    def rewrite_chain(self, a, data):
        if a.chain == "empty":
            return b""
        if a.chain == "file":
            return a.chain_bytes
        if a.chain == "append-key":
            return data + (b"" if data.endswith(b"\n") else b"\n") + a.key_bytes
        # der: the first certificate's base64 decoded
        m = re.search(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", data, re.S)
        return base64.b64decode(b"".join(m.group(1).split())) if m else data

    def send_truncated(self, method, path, st, reason, hdrs, data):
        """The headers of the whole body, part of the body, then the connection closed."""
        size = self.server.args.size
        cut = len(data) // 2 if size is None else min(size, len(data) - 1)  # never all of it
        self.close_connection = True
        try:
            self.send_all(st, reason, hdrs, b"", length=len(data), head=True)
            self.wfile.write(data[:cut])
            self.wfile.flush()
            if self.server.args.reset:
                # SO_LINGER with a zero timeout: close() sends RST, not FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
        except (OSError, ssl.SSLError, ValueError):
            pass
        self.logline(method, path, "%s(cut at %d of %d)" % (st, cut, len(data)), True)

    def send_huge(self, method, path, st, reason, hdrs, head):
        size = self.server.args.size
        try:
            self.send_all(st, reason, hdrs, b"", length=size, head=True)
            if not head:
                block = b"a" * CHUNK
                left = size
                while left > 0 and not stopping.is_set():
                    n = min(left, CHUNK)
                    self.wfile.write(block if n == CHUNK else block[:n])
                    left -= n
                if left:
                    self.close_connection = True
            self.logline(method, path, st, True)
        except (OSError, ssl.SSLError, ValueError):
            # The client hung up: that is what it is supposed to do.
            self.close_connection = True
            self.logline(method, path, "%s(client-hung-up)" % st, True)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def finish_request(self, request, client_address):
        # TLS handshake here, in the connection's own thread, so a slow client can't block accept.
        try:
            request.settimeout(HANDSHAKE_TIMEOUT)
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as e:
            if self.args.verbose:
                sys.stderr.write("faultproxy: TLS handshake with %s failed: %s\n"
                                 % (client_address, e))
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if self.args.verbose:
            super().handle_error(request, client_address)


def host_port(s, what):
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("%s: want HOST:PORT, got %r" % (what, s))
    return host.strip("[]"), int(port)


def parse_args(argv):
    p = argparse.ArgumentParser(description="TLS reverse proxy that injects ACME faults.")
    p.add_argument("--listen", required=True, help="HOST:PORT (PORT 0: pick a free port)")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--upstream", required=True,
                   help="https://HOST:PORT[/DIRPATH] (directory path default /dir)")
    p.add_argument("--upstream-ca", required=True)
    p.add_argument("--mode", required=True, choices=MODES)
    p.add_argument("--match", help="regex searched in the request path; default: all")
    p.add_argument("--count", type=int, help="fault only the first N matching responses")
    p.add_argument("--ready-file")
    p.add_argument("--log")
    p.add_argument("--token", default="../../../tmp/nacme-pwned")
    p.add_argument("--size", type=int,
                   help="huge-body: bytes sent (default 64 MiB); truncate: bytes kept "
                   "(default: half)")
    p.add_argument("--log-nonces", action="store_true",
                   help="log each POST's JWS nonce and signature and each answer's Replay-Nonce")
    p.add_argument("--method", help="fault only requests with this method")
    p.add_argument("--skip", type=int, default=0,
                   help="the first N matching requests pass untouched")
    p.add_argument("--set-header", action="append", default=[],
                   help="headers: 'NAME: VALUE' replaces NAME in the response (repeatable)")
    p.add_argument("--drop-header", action="append", default=[],
                   help="headers: NAME removed from the response (repeatable)")
    p.add_argument("--reset", action="store_true", help="truncate: close with a TCP RST")
    p.add_argument("--body", help="body: the new response body (text)")
    p.add_argument("--body-file", help="body: the new response body (a file's bytes)")
    p.add_argument("--content-type", help="body: the new Content-Type")
    p.add_argument("--set", action="append", default=[],
                   help="json-set: KEY=JSON sets member KEY of a JSON object response")
    p.add_argument("--chain", choices=("append-key", "der", "empty", "file"), default="append-key",
                   help="chain: how a certificate chain download is rewritten")
    p.add_argument("--chain-file", help="chain file: the bytes served instead of the chain")
    p.add_argument("--status", type=int, default=400)
    p.add_argument("--problem-type", default="urn:ietf:params:acme:error:malformed")
    p.add_argument("--detail", default="injected by faultproxy")
    p.add_argument("--subproblems", help="JSON array added as \"subproblems\"")
    p.add_argument("--retry-after", help="Retry-After value for problem/status")
    p.add_argument("--instance", help="problem: the \"instance\" URL (RFC 7807)")
    p.add_argument("--delay", type=float, default=30.0)
    p.add_argument("--bad-json-body", default='{"newOrder": ')
    p.add_argument("--forward-first", action="store_true",
                   help="problem/status/drop: forward the request first, then answer the fault")
    p.add_argument("--ari-window", help="START,END: the suggested window, in seconds from the start")
    p.add_argument("--ari-status", type=int, help="answer renewalInfo with this status")
    p.add_argument("--ari-body", help="answer renewalInfo with this body (application/json)")
    p.add_argument("--ari-explanation", help="explanationURL of the window")
    p.add_argument("--ari-retry-after", help="Retry-After of renewalInfo answers")
    p.add_argument("--profiles", help="JSON object: the directory's meta.profiles")
    p.add_argument("--order-profile", help="the \"profile\" of every order object answered")
    p.add_argument("--upstream-timeout", type=float, default=30.0)
    p.add_argument("--client-timeout", type=float, default=120.0)
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    try:
        a.listen_host, a.listen_port = host_port(a.listen, "--listen")
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    u = urllib.parse.urlsplit(a.upstream)
    if u.scheme != "https" or not u.hostname:
        p.error("--upstream must be https://HOST:PORT")
    a.up_host, a.up_port = u.hostname, u.port or 443
    a.dir_path = u.path if u.path not in ("", "/") else "/dir"
    if a.subproblems is not None:
        try:
            a.subproblems = json.loads(a.subproblems)
        except ValueError as e:
            p.error("--subproblems: not JSON: %s" % e)
    a.ari = a.ari_window is not None or a.ari_status is not None or a.ari_body is not None
    if a.ari_window is not None:
        try:
            a.ari_window = [int(x) for x in a.ari_window.split(",")]
            if len(a.ari_window) != 2:
                raise ValueError
        except ValueError:
            p.error("--ari-window: want START,END in seconds from now")
    elif a.ari:
        a.ari_window = [0, 3600]
    if a.profiles is not None:
        try:
            a.profiles = json.loads(a.profiles)
        except ValueError as e:
            p.error("--profiles: not JSON: %s" % e)
        if not isinstance(a.profiles, dict):
            p.error("--profiles: want a JSON object of name -> description")
    if a.count is not None and a.count < 0:
        p.error("--count must be >= 0")
    if a.size is not None and a.size < 0:
        p.error("--size must be >= 0")
    if a.mode == "huge-body" and a.size is None:
        a.size = 64 * 1024 * 1024
    if a.skip < 0:
        p.error("--skip must be >= 0")
    try:
        a.set_header = [(n.strip(), v.strip()) for n, v in
                        (h.split(":", 1) for h in a.set_header)]
    except ValueError:
        p.error("--set-header: want 'NAME: VALUE'")
    if a.body_file is not None:
        with open(a.body_file, "rb") as f:
            a.body = f.read()
    elif a.body is not None:
        a.body = a.body.encode()
    elif a.mode == "body":
        p.error("--mode body needs --body or --body-file")
    sets = {}
    for kv in a.set:
        k, sep, v = kv.partition("=")
        try:
            if not sep or not k:
                raise ValueError("want KEY=JSON")
            sets[k] = json.loads(v)
        except ValueError as e:
            p.error("--set %s: %s" % (kv, e))
    a.set = sets
    with open(a.key, "rb") as f:
        a.key_bytes = f.read()
    a.chain_bytes = None
    if a.chain == "file":
        if a.chain_file is None:
            p.error("--chain file needs --chain-file")
        with open(a.chain_file, "rb") as f:
            a.chain_bytes = f.read()
    if not 100 <= a.status <= 599:
        p.error("--status must be 100..599")
    return a


def write_ready(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv):
    a = parse_args(argv)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    up_ctx = ssl.create_default_context(cafile=a.upstream_ca)

    Server.address_family = socket.AF_INET6 if ":" in a.listen_host else socket.AF_INET
    srv = Server((a.listen_host, a.listen_port), Handler)
    srv.args = a
    srv.ssl_ctx = ctx
    srv.up_ctx = up_ctx
    srv.up_host, srv.up_port = a.up_host, a.up_port
    srv.dir_path = a.dir_path
    srv.nonce_path = None
    srv.faults = Faults(a.match, a.method, a.skip, a.count)
    srv.started = int(time.time())
    srv.rlog = RequestLog(a.log)

    def on_signal(signum, frame):
        stopping.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    port = srv.server_address[1]
    if a.ready_file:
        write_ready(a.ready_file, port)
    if a.verbose:
        sys.stderr.write("faultproxy: listening on %s:%d mode %s\n" % (a.listen_host, port, a.mode))
    while not stopping.wait(0.5):
        pass
    srv.shutdown()
    srv.server_close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # connection threads are daemons; don't wait for idle keep-alives


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (OSError, ssl.SSLError) as e:
        sys.stderr.write("faultproxy: %s\n" % e)
        sys.exit(1)
