#!/usr/bin/env python3
"""A byte stream over one TCP connection, for bench/migration's image copies.

  tcpcopy.py recv ADDRESS PORT     listen on ADDRESS:PORT, accept one connection, copy it to stdout
  tcpcopy.py send ADDRESS PORT     connect to ADDRESS:PORT, copy stdin to it

`tar -C DIR -cf - . | tcpcopy.py send H2 P` on one host and `tcpcopy.py recv H2 P | tar -C DIR
-xf -` on the other is `tar | nc`: the bytes cross the network between the two (network
namespaces of the dev cluster), not a shared file system. recv prints "listening" on stderr
once it listens; send retries the connection for 10 s. Both end with the stream and print
the payload bytes on stderr ("received N bytes", "sent N bytes").
"""
import socket
import sys
import time

BUF = 4 << 20


def pump(read, write):
    total = 0
    while True:
        data = read(BUF)
        if not data:
            return total
        write(data)
        total += len(data)


def main():
    mode, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "recv":
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((address, port))
            listener.listen(1)
            print("listening", file=sys.stderr, flush=True)
            conn, _ = listener.accept()
        with conn:
            out = sys.stdout.buffer
            total = pump(conn.recv, out.write)
            out.flush()
        print(f"received {total} bytes", file=sys.stderr, flush=True)
    elif mode == "send":
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = socket.create_connection((address, port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with conn:
            total = pump(sys.stdin.buffer.read1, conn.sendall)
            conn.shutdown(socket.SHUT_WR)
        print(f"sent {total} bytes", file=sys.stderr, flush=True)
    else:
        sys.exit(f"tcpcopy.py: unknown mode {mode} (recv or send)")


if __name__ == "__main__":
    main()
