#!/usr/bin/env python3
"""The scripted attack run of docs/security.md: real `tsunagu` processes on loopback (two TLS nodes
with a client-certificate CA and the balancer in front), attacked as the access-hardening review
did. Prints what each attack got; exits 1 if any expectation fails. Bounded: about 30 seconds
(a 120 s timeout in attack-run.sh).

Usage: cluster/attack-run.sh (sets PATH to a Python with `websockets`, finds the binary).
Environment: TSUNAGU (the binary), ATTACK_DIR (scratch directory; default a fresh temporary one).
"""
import asyncio
import concurrent.futures
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import warnings

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
TSUNAGU = os.environ.get("TSUNAGU") or os.path.join(HERE, "..", ".build", "debug", "tsunagu")
WORK = os.environ.get("ATTACK_DIR") or tempfile.mkdtemp(prefix="tsunagu-attack-")
CERTS = os.path.join(WORK, "certs")
STORE = ["--store", os.path.join(WORK, "t.sqlite"), "--master-key-file", os.path.join(WORK, "master.key")]
PASSWORD = "Attack-run pass 2026"
failures = []
processes = []


def check(condition, what):
    print(("  ok    " if condition else "  FAIL  ") + what)
    if not condition:
        failures.append(what)


def tsunagu(*arguments, stdin=None):
    return subprocess.run([TSUNAGU, *arguments], input=stdin, capture_output=True, text=True, timeout=60)


def start(*arguments):
    """A long-running tsunagu process; returns (process, port) once it prints its listening line."""
    process = subprocess.Popen([TSUNAGU, *arguments], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    processes.append(process)
    line = process.stdout.readline()
    if "listening on" not in line:
        raise SystemExit(f"tsunagu {arguments[0]} did not start: {line!r}")
    return process, int(line.rsplit(":", 1)[1])


def tls_context(certificate=None):
    context = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
    if certificate:
        context.load_cert_chain(os.path.join(CERTS, certificate + ".pem"), os.path.join(CERTS, certificate + ".key"))
    return context


def request(port, method, path, body=None, token=None, certificate=None, source="127.0.0.1"):
    """One HTTPS request from `source`; (status, parsed JSON body or None)."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=tls_context(certificate), timeout=10,
                                             source_address=(source, 0))
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data) if data else None
        except ValueError:
            return response.status, None
    finally:
        connection.close()


def login(port, email, password, certificate=None, source="127.0.0.1"):
    return request(port, "POST", "/v1/sessions", {"email": email, "password": password},
                   certificate=certificate, source=source)


def setup():
    os.makedirs(WORK, exist_ok=True)
    subprocess.run([os.path.join(HERE, "make-test-certs.sh"), CERTS], check=True, capture_output=True)
    made = tsunagu("admin", "bootstrap", *STORE, "--org", "Clinic", "--email", "admin@clinic.test",
                   "--password-stdin", stdin=PASSWORD + "\n")
    if made.returncode != 0:
        raise SystemExit("bootstrap failed: " + made.stderr)
    for email, name, org in [("alice@clinic.test", "Alice", ["--org", "Clinic"]),
                             ("target@clinic.test", "Target", ["--org", "Clinic"]),
                             ("nurse@pharmacy.test", "Nurse", ["--org", "Pharmacy", "--create-org"])]:
        added = tsunagu("admin", "add-user", *STORE, "--email", email, "--name", name, *org, "--password-stdin",
                        stdin=PASSWORD + "\n")
        if added.returncode != 0:
            raise SystemExit("add-user failed: " + added.stderr)
    tls = ["--tls-cert", os.path.join(CERTS, "server.pem"), "--tls-key", os.path.join(CERTS, "server.key"),
           "--tls-client-ca", os.path.join(CERTS, "ca.pem")]
    nodes = [start("serve", *STORE, "--listen", "127.0.0.1:0", "--node-id", f"n_attack{i}", *tls)[1] for i in (1, 2)]
    _, balancer = start("balance", *STORE, "--listen", "127.0.0.1:0")
    for _ in range(100):  # the balancer follows the registry and probes the nodes
        try:
            if login(balancer, "nobody@nowhere.test", "x" * 12, source="127.0.0.9")[0] == 401:
                break
        except OSError:
            pass
        time.sleep(0.1)
    print(f"two TLS nodes on ports {nodes[0]}, {nodes[1]}; the balancer on {balancer}; scratch {WORK}")
    return nodes, balancer


def concurrent_wrong_logins(nodes):
    print("\n1. 30 concurrent wrong passwords for one account, over both nodes (from 127.0.0.4)")
    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(lambda i: login(nodes[i % 2], "target@clinic.test", f"wrong guess {i:02d}",
                                                 source="127.0.0.4")[0], range(30)))
    checked, refused = statuses.count(401), statuses.count(429)
    print(f"  answers: {checked} x 401 (password checked), {refused} x 429 (refused unchecked)")
    check(checked <= 5 and checked + refused == 30, "at most the policy's 5 password checks ran")
    status, _ = login(nodes[0], "target@clinic.test", PASSWORD, source="127.0.0.4")
    print(f"  the right password afterwards: {status}")
    check(status == 429, "the account stays locked, even for the right password")


def failed_logins_through_balancer(balancer):
    print("\n2. 25 failed logins from 127.0.0.2 through the balancer, then a login from 127.0.0.3")
    statuses = [login(balancer, f"guess{i}@pharmacy.test", "wrong password", source="127.0.0.2")[0] for i in range(25)]
    print(f"  127.0.0.2: {statuses.count(401)} x 401, then {statuses.count(429)} x 429 (its source is locked)")
    check(statuses.count(401) == 20 and statuses.count(429) == 5, "the attacker's address is locked after 20")
    status, _ = login(balancer, "nurse@pharmacy.test", PASSWORD, source="127.0.0.3")
    print(f"  nurse from 127.0.0.3 through the same balancer: {status}")
    check(status == 201, "another address behind the balancer logs in")


async def websocket_auth(port, token, certificate):
    async with websockets.connect(f"wss://127.0.0.1:{port}/v1/ws", ssl=tls_context(certificate),
                                  open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "auth", "id": 1, "token": token}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        return reply.get("code") or reply.get("type")


def token_replay(nodes):
    print("\n3. a session bound to alice's certificate, replayed without it (and with bob's)")
    status, body = login(nodes[0], "admin@clinic.test", PASSWORD)
    admin = body["token"]
    status, body = login(nodes[0], "alice@clinic.test", PASSWORD, certificate="alice")
    status, _ = request(nodes[0], "POST", "/v1/me/certificates", {"password": PASSWORD}, token=body["token"],
                        certificate="alice")
    check(status == 201, f"alice enrols her certificate with her password ({status})")
    status, _ = request(nodes[0], "PATCH", "/v1/admin/organization", {"require_client_certificate": True}, token=admin)
    check(status == 200, f"the clinic requires client certificates ({status})")
    status, body = login(nodes[1], "alice@clinic.test", PASSWORD, certificate="alice")
    token = body["token"]
    with_cert = request(nodes[0], "GET", "/v1/me", token=token, certificate="alice")[0]
    without = request(nodes[0], "GET", "/v1/me", token=token)
    other = request(nodes[1], "GET", "/v1/me", token=token, certificate="bob")
    print(f"  HTTP GET /v1/me: with alice's certificate {with_cert}; without one {without[0]} "
          f"{(without[1] or {}).get('code')}; with bob's {other[0]} {(other[1] or {}).get('code')}")
    check(with_cert == 200 and without[0] == 401 and other[0] == 401, "HTTP refuses the replayed token")
    ws_with = asyncio.run(websocket_auth(nodes[1], token, "alice"))
    ws_without = asyncio.run(websocket_auth(nodes[1], token, None))
    print(f"  WebSocket auth: with alice's certificate {ws_with}; without one {ws_without}")
    check(ws_with == "ok" and ws_without == "certificate_required", "WebSocket refuses the replayed token")


def idle_connection(nodes):
    print("\n4. an idle TCP connection to a node (nothing sent)")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", nodes[0]), timeout=30) as raw:
        try:
            data = raw.recv(1)
        except ConnectionResetError:
            data = b""
    elapsed = time.monotonic() - started
    print(f"  closed by the node after {elapsed:.1f} s (answer bytes: {len(data)})")
    check(data == b"" and elapsed < 15, "closed within 15 s")


def old_tls(nodes):
    print("\n5. TLS versions offered to a node")
    for name, version in [("TLS 1.1", ssl.TLSVersion.TLSv1_1), ("TLS 1.2", ssl.TLSVersion.TLSv1_2)]:
        warnings.simplefilter("ignore")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = version
        try:
            with socket.create_connection(("127.0.0.1", nodes[0]), timeout=5) as raw:
                with context.wrap_socket(raw) as tls:
                    outcome = "negotiated " + tls.version()
        except ssl.SSLError as error:
            outcome = "refused (" + str(error.reason) + ")"
        print(f"  a client offering at most {name}: {outcome}")
        if version == ssl.TLSVersion.TLSv1_1:
            check(outcome.startswith("refused"), "a TLS 1.1 client is refused")
        else:
            check(outcome == "negotiated TLSv1.2", "a TLS 1.2 client is served")


def registration_flood(nodes):
    print("\n6. 5 activation-link requests for one address within a second, over both nodes (from 127.0.0.5)")
    started = time.monotonic()
    statuses = [request(nodes[i % 2], "POST", "/v1/registrations", {"email": "alice@clinic.test"}, source="127.0.0.5")[0]
                for i in range(5)]
    print(f"  answers in {time.monotonic() - started:.2f} s: {statuses}")
    check(statuses == [202, 202, 202, 429, 429], "at most 3 links per address, across nodes")


def main():
    started = time.monotonic()
    try:
        nodes, balancer = setup()
        concurrent_wrong_logins(nodes)
        failed_logins_through_balancer(balancer)
        token_replay(nodes)
        idle_connection(nodes)
        old_tls(nodes)
        registration_flood(nodes)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    print(f"\n{'all expectations held' if not failures else str(len(failures)) + ' FAILED'} "
          f"in {time.monotonic() - started:.0f} s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
