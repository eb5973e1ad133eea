#!/usr/bin/python3
"""Long TCP streams of known bytes for the HA lab (test tool, not netops).

server PORT LOGFILE          listen on [::]:PORT (IPv4 too); for each client read
                             "seed total seconds\n", then send `total` bytes of
                             the known sequence for `seed`, paced over `seconds`.
client ADDR PORT SEED TOTAL SECONDS STALL PROGRESS
                             receive and verify the sequence; every 0.5 s write
                             "bytes=N" to PROGRESS, and append "T N" to
                             PROGRESS.arrivals for each read (T: CLOCK_MONOTONIC
                             seconds, N: bytes it brought); exit 0 and print
                             "OK bytes=N sha256=H" when all arrived intact, or 1 and
                             "FAIL reason at byte N" (reset, mismatch, stalled STALL s,
                             closed early).  Everything bounded in bytes and time.
watch LOGFILE ARGV...        run ARGV (e.g. ip -o monitor address) and append each
                             line of its output to LOGFILE as "T line" (T as above).
"""
import hashlib, os, socket, sys, threading, time

BLOCK = 4096
CHUNK = 1024        # the server paces in chunks: arrivals every ~40 ms at 24 KiB/s

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
            for k in range(0, len(b), CHUNK):
                conn.sendall(b[k:k + CHUNK])
                sent += len(b[k:k + CHUNK])
                due = start + seconds * sent / total
                d = due - time.monotonic()
                if d > 0:
                    time.sleep(d)
            i += 1
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
    arrivals = open(progress + ".arrivals", "a")
    def report(msg, code):
        arrivals.close()
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
            arrivals.write("%.6f %d\n" % (time.monotonic(), len(d)))
            pending += d
            while len(pending) >= BLOCK or (got + len(pending) == total and pending):
                n = min(BLOCK, len(pending))
                if pending[:n] != block(seed, i)[:n]:
                    report("FAIL mismatch at byte %d" % (got), 1)
                sha.update(pending[:n]); got += n; i += 1; pending = pending[n:]
            now = time.monotonic()
            if now - last_write > 0.5:
                last_write = now
                arrivals.flush()
                with open(progress + ".tmp", "w") as f:
                    f.write("bytes=%d\n" % got)
                os.replace(progress + ".tmp", progress)
        report("OK bytes=%d sha256=%s" % (got, sha.hexdigest()), 0)
    except ConnectionResetError:
        report("FAIL reset at byte %d" % got, 1)
    except OSError as e:
        report("FAIL %s at byte %d" % (e, got), 1)

def watch(log, argv):
    import signal, subprocess
    deadline = time.monotonic() + 900          # never outlive a lab by much
    with open(log, "a") as out:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        def stop(*_):
            p.terminate(); p.wait(); sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        for line in p.stdout:
            out.write("%.6f %s" % (time.monotonic(), line.decode(errors="replace")))
            out.flush()
            if time.monotonic() > deadline:
                p.terminate()
                break
        p.wait()

if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "client":
        a = sys.argv[2:]
        client(a[0], int(a[1]), int(a[2]), int(a[3]), float(a[4]), float(a[5]), a[6])
    elif sys.argv[1] == "watch":
        watch(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "expect":     # expect SEED TOTAL: print the sha256 of the sequence
        seed, total = int(sys.argv[2]), int(sys.argv[3])
        h, n, i = hashlib.sha256(), 0, 0
        while n < total:
            b = block(seed, i)[: total - n]; h.update(b); n += len(b); i += 1
        print(h.hexdigest())
