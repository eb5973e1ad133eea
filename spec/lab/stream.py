#!/usr/bin/python3
"""Long TCP streams of known bytes for the HA lab (test tool, not netops).

server PORT LOGFILE          listen on [::]:PORT (IPv4 too); for each client read
                             "seed total seconds\n", then send `total` bytes of
                             the known sequence for `seed`, paced over `seconds`.
client ADDR PORT SEED TOTAL SECONDS STALL PROGRESS
                             receive and verify the sequence; every 0.5 s write
                             "bytes=N" to PROGRESS; exit 0 and print
                             "OK bytes=N sha256=H" when all arrived intact, or 1 and
                             "FAIL reason at byte N" (reset, mismatch, stalled STALL s,
                             closed early).  Everything bounded in bytes and time.
"""
import hashlib, os, socket, sys, threading, time

BLOCK = 4096

def block(seed, i):
    h = hashlib.sha256(b"%d:%d" % (seed, i)).digest()
    return (h * (BLOCK // len(h) + 1))[:BLOCK]

def serve_one(conn, log):
    try:
        conn.settimeout(10)
        hdr = b""
        while not hdr.endswith(b"\n") and len(hdr) < 100:
            c = conn.recv(1)
            if not c:
                return
            hdr += c
        seed, total, seconds = hdr.split()
        seed, total, seconds = int(seed), int(total), float(seconds)
        total = min(total, 64 << 20)
        conn.settimeout(60)
        start = time.monotonic()
        sent, i = 0, 0
        while sent < total:
            b = block(seed, i)[: total - sent]
            conn.sendall(b)
            sent += len(b); i += 1
            due = start + seconds * sent / total
            d = due - time.monotonic()
            if d > 0:
                time.sleep(d)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(10)
        conn.recv(1)
    except Exception as e:
        with open(log, "a") as f:
            f.write("server: stream %s: %s\n" % (hdr.strip(), e))
    finally:
        conn.close()

def server(port, log):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port)); s.listen(64)
    deadline = time.monotonic() + 900          # never outlive a lab by much
    s.settimeout(5)
    while time.monotonic() < deadline:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve_one, args=(c, log), daemon=True).start()

def client(addr, port, seed, total, seconds, stall, progress):
    got, i, pending = 0, 0, b""
    sha = hashlib.sha256()
    last_write = 0
    def report(msg, code):
        with open(progress, "w") as f:
            f.write("bytes=%d\n%s\n" % (got, msg))
        print(msg); sys.exit(code)
    try:
        c = socket.create_connection((addr, port), timeout=10)
        c.sendall(b"%d %d %g\n" % (seed, total, seconds))
        c.settimeout(stall)
        while got < total:
            try:
                d = c.recv(65536)
            except socket.timeout:
                report("FAIL stalled %gs at byte %d" % (stall, got), 1)
            if not d:
                report("FAIL closed early at byte %d" % got, 1)
            pending += d
            while len(pending) >= BLOCK or (got + len(pending) == total and pending):
                n = min(BLOCK, len(pending))
                if pending[:n] != block(seed, i)[:n]:
                    report("FAIL mismatch at byte %d" % (got), 1)
                sha.update(pending[:n]); got += n; i += 1; pending = pending[n:]
            now = time.monotonic()
            if now - last_write > 0.5:
                last_write = now
                with open(progress + ".tmp", "w") as f:
                    f.write("bytes=%d\n" % got)
                os.replace(progress + ".tmp", progress)
        report("OK bytes=%d sha256=%s" % (got, sha.hexdigest()), 0)
    except ConnectionResetError:
        report("FAIL reset at byte %d" % got, 1)
    except OSError as e:
        report("FAIL %s at byte %d" % (e, got), 1)

if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "client":
        a = sys.argv[2:]
        client(a[0], int(a[1]), int(a[2]), int(a[3]), float(a[4]), float(a[5]), a[6])
    elif sys.argv[1] == "expect":     # expect SEED TOTAL: print the sha256 of the sequence
        seed, total = int(sys.argv[2]), int(sys.argv[3])
        h, n, i = hashlib.sha256(), 0, 0
        while n < total:
            b = block(seed, i)[: total - n]; h.update(b); n += len(b); i += 1
        print(h.hexdigest())
