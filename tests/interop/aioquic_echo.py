#!/usr/bin/env python3
"""An independent QUIC echo peer built on aioquic, for qecho's interop tests.

client HOST PORT --alpn qecho [--count N] [--size BYTES[,BYTES...]] [--streams K] [--ca FILE]
       [--groups secp256r1,x25519,...] [--datagrams D]
    Connects (certificate verification off unless --ca is given; server name "localhost"), opens
    K bidirectional streams at once and on each sends N messages, message i being
    sizes[i % len(sizes)] random bytes. Each echo is read back completely and compared before the
    next message goes out. Then the stream is ended (FIN) and the server must FIN back with no
    extra bytes. Exit 0 only if every byte matched; 1 on a mismatch or missing FIN; 2 on errors
    (no connection, time-out). --groups sets the key exchange groups offered (by default aioquic
    offers a key share for each of P-256, P-384 and X25519). --datagrams D then sends D QUIC
    DATAGRAM frames (RFC 9221) of 100 bytes, one at a time, each waiting for its echo (exit 1 if
    one does not come back intact). --resume runs it all twice, the second connection offering
    the session ticket of the first, and prints "session resumed: True/False" for each.

server --host 127.0.0.1 --port 0 --alpn quic-example [--alpn X ...] [--cert F --key F]
       [--quic-version 2]
    Echoes every bidirectional stream a client opens, data as it arrives, FIN when the client
    FINs; and every DATAGRAM frame. Prints "listening on HOST:PORT" (the real port) on stdout once ready; runs until killed.
    Without --cert/--key it uses a fresh self-signed certificate for localhost/127.0.0.1/::1.
    It issues session tickets (kept in memory), so that clients can resume.
    --quic-version 2 makes it speak only QUIC v2 (RFC 9369), so that it answers a v1 client
    with a Version Negotiation packet.
"""

import argparse
import asyncio
import datetime
import ipaddress
import os
import ssl
import sys
import time

from aioquic.asyncio import QuicConnectionProtocol, connect, serve
from aioquic.quic import events
from aioquic.quic.configuration import QuicConfiguration

# Overall limit for a client run; every single wait has a smaller one.
CLIENT_LIMIT = 20.0
HANDSHAKE_LIMIT = 5.0
ECHO_LIMIT = 10.0
FIN_LIMIT = 5.0


def log(*parts):
    print("aioquic_echo:", *parts, file=sys.stderr, flush=True)


class Peer(QuicConnectionProtocol):
    """Records what the plain protocol hides: the ALPN, FINs, resets and the close reason."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.alpn = None
        self.fins = set()
        self.resets = {}
        self.stop_sendings = {}
        self.terminated = None
        self.datagrams = asyncio.Queue()
        self.server_uni = {}  # the server's unidirectional streams: stream id -> bytes so far
        self.server_uni_changed = asyncio.Event()

    def quic_event_received(self, event):
        if isinstance(event, events.DatagramFrameReceived):
            self.datagrams.put_nowait(event.data)
        if isinstance(event, events.ProtocolNegotiated):
            self.alpn = event.alpn_protocol
        elif isinstance(event, events.StreamDataReceived):
            if event.stream_id % 4 == 3:  # server-initiated, unidirectional (RFC 9000 2.1)
                self.server_uni.setdefault(event.stream_id, bytearray()).extend(event.data)
                self.server_uni_changed.set()
            if event.end_stream:
                self.fins.add(event.stream_id)
        elif isinstance(event, events.StreamReset):
            self.resets[event.stream_id] = event.error_code
            reader = self._stream_readers.get(event.stream_id)
            if reader is not None:
                reader.feed_eof()  # wake up a reader waiting for data that will never come
        elif isinstance(event, events.StopSendingReceived):
            self.stop_sendings[event.stream_id] = event.error_code
        elif isinstance(event, events.ConnectionTerminated):
            self.terminated = (event.error_code, event.frame_type, event.reason_phrase)
        super().quic_event_received(event)


class Failure(Exception):
    """An echo that did not come back intact."""


def parse_sizes(text):
    sizes = []
    for part in text.split(","):
        size = int(part.strip())
        if size < 1:
            raise argparse.ArgumentTypeError(f"size must be at least 1 byte, not {size}")
        sizes.append(size)
    return sizes


def key_phases(peer):
    """The 1-RTT key phase each way: both 1 once a key update has gone out and the peer answered
    with its own (RFC 9001 6)."""
    from aioquic import tls

    pair = peer._quic._cryptos[tls.Epoch.ONE_RTT]
    return pair.send.key_phase, pair.recv.key_phase


async def echo_stream(peer, index, count, sizes, stats, key_update=False):
    reader, writer = await peer.create_stream()
    stream_id = writer.get_extra_info("stream_id")
    for seq in range(count):
        size = sizes[seq % len(sizes)]
        payload = os.urandom(size)
        started = time.monotonic()
        writer.write(payload)
        stats["sent_bytes"] += size
        try:
            echo = await asyncio.wait_for(reader.readexactly(size), ECHO_LIMIT)
        except asyncio.IncompleteReadError as error:
            why = describe_stream_end(peer, stream_id)
            raise Failure(
                f"stream {stream_id} seq={seq + 1}: echo cut short after "
                f"{len(error.partial)} of {size} bytes ({why})"
            ) from None
        except asyncio.TimeoutError:
            raise Failure(
                f"stream {stream_id} seq={seq + 1}: no complete echo of {size} bytes "
                f"within {ECHO_LIMIT}s"
            ) from None
        if key_update and index == 0 and seq == 0:
            peer._quic.request_key_update()  # the next messages go out under new keys
            peer.transmit()
        if echo != payload:
            first = next(i for i, (a, b) in enumerate(zip(echo, payload)) if a != b)
            raise Failure(
                f"stream {stream_id} seq={seq + 1}: echo of {size} bytes differs from byte {first}"
            )
        stats["echoed_bytes"] += size
        stats["messages"] += 1
        elapsed = (time.monotonic() - started) * 1000
        print(f"{size} bytes echoed on stream {stream_id}: seq={seq + 1} time={elapsed:.3f} ms", flush=True)

    writer.write_eof()
    try:
        rest = await asyncio.wait_for(reader.read(), FIN_LIMIT)
    except asyncio.TimeoutError:
        raise Failure(f"stream {stream_id}: no FIN from the server within {FIN_LIMIT}s after ours") from None
    if rest:
        raise Failure(f"stream {stream_id}: {len(rest)} unexpected bytes after the last echo")
    if stream_id not in peer.fins:
        raise Failure(f"stream {stream_id}: ended without a FIN ({describe_stream_end(peer, stream_id)})")
    stats["fins"] += 1
    print(f"stream {stream_id}: FIN received after {count} echoes", flush=True)


def describe_stream_end(peer, stream_id):
    if stream_id in peer.resets:
        return f"server reset the stream with error {peer.resets[stream_id]}"
    if stream_id in peer.stop_sendings:
        return f"server sent STOP_SENDING with error {peer.stop_sendings[stream_id]}"
    if peer.terminated is not None:
        code, frame, reason = peer.terminated
        return f"connection closed: error {code:#x}, frame {frame}, reason {reason!r}"
    if stream_id in peer.fins:
        return "server sent FIN early"
    return "stream ended"


async def run_client(args):
    configuration = QuicConfiguration(
        is_client=True,
        alpn_protocols=args.alpn,
        server_name=args.server_name,
        idle_timeout=10.0,
        max_datagram_frame_size=65536 if args.datagrams else None,
    )
    if args.qlog:
        from aioquic.quic.logger import QuicFileLogger

        configuration.quic_logger = QuicFileLogger(args.qlog)
    if args.ca:
        configuration.load_verify_locations(cafile=args.ca)
        configuration.verify_mode = ssl.CERT_REQUIRED
    else:
        configuration.verify_mode = ssl.CERT_NONE
    if not args.resume:
        return await run_client_once(args, configuration, None)
    # --resume: the first connection keeps the server's ticket, the second offers it.
    tickets = []
    status = await run_client_once(args, configuration, tickets.append)
    if status != 0:
        return status
    if not tickets:
        log("the server sent no session ticket")
        return 1
    configuration.session_ticket = tickets[-1]
    return await run_client_once(args, configuration, None)


async def run_client_once(args, configuration, ticket_handler):
    stats = {"sent_bytes": 0, "echoed_bytes": 0, "messages": 0, "fins": 0, "datagrams": 0, "uni": 0}
    expected_messages = args.count * args.streams
    try:
        connection = connect(
            args.host,
            args.port,
            configuration=configuration,
            create_protocol=Peer,
            session_ticket_handler=ticket_handler,
            wait_connected=False,
        )
        async with connection as peer:
            peer.transmit()  # wait_connected=False leaves the Initial unsent (it is meant for 0-RTT)
            try:
                await asyncio.wait_for(peer.wait_connected(), HANDSHAKE_LIMIT)
            except (ConnectionError, asyncio.TimeoutError):
                waiter = peer._connected_waiter
                if waiter is not None:  # fails later when the connection closes: nobody is waiting
                    waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
                why = describe_stream_end(peer, -1) if peer.terminated else f"no handshake within {HANDSHAKE_LIMIT}s"
                log(f"could not connect to {args.host}:{args.port}: {why}")
                return 2
            print(f"connected to {args.host}:{args.port}, alpn {peer.alpn}", flush=True)
            if args.resume:
                print(f"session resumed: {peer._quic.tls.session_resumed}", flush=True)
            if peer.alpn not in args.alpn:
                log(f"server chose ALPN {peer.alpn!r}, which we did not offer ({args.alpn})")
                return 1
            results = await asyncio.gather(
                *(
                    echo_stream(peer, i, args.count, args.sizes, stats, args.key_update)
                    for i in range(args.streams)
                ),
                return_exceptions=True,
            )
            failures = [r for r in results if isinstance(r, BaseException)]
            if args.datagrams:
                try:
                    await echo_datagrams(peer, args.datagrams, stats)
                except (Failure, asyncio.TimeoutError) as failure:
                    failures.append(failure if isinstance(failure, Failure) else Failure(f"datagram echo: {failure!r}"))
            if args.uni:
                try:
                    await echo_unidirectional(peer, args.uni, stats)
                except (Failure, asyncio.TimeoutError) as failure:
                    failures.append(failure if isinstance(failure, Failure) else Failure(f"unidirectional echo: {failure!r}"))
            for failure in failures:
                log(f"FAILED: {failure}" if isinstance(failure, Failure) else f"ERROR: {failure!r}")
            if args.key_update:
                sent, received = key_phases(peer)
                print(f"key phase after the update: sent {sent}, received {received}", flush=True)
            peer.close()
    except ConnectionError as error:
        log(f"connection error: {error!r}")
        return 2

    if args.datagrams:
        print(f"datagrams: {stats['datagrams']}/{args.datagrams} echoed intact", flush=True)
    if args.uni:
        print(f"unidirectional: {stats['uni']}/{args.uni} echoed intact, in order", flush=True)
    print(
        f"summary: {args.streams} streams, {stats['messages']}/{expected_messages} messages echoed intact, "
        f"{stats['echoed_bytes']}/{stats['sent_bytes']} bytes, {stats['fins']}/{args.streams} FINs",
        flush=True,
    )
    if failures:
        return 2 if any(not isinstance(f, Failure) for f in failures) else 1
    if stats["messages"] != expected_messages or stats["fins"] != args.streams:
        return 1
    print("ok: every byte matched", flush=True)
    return 0


async def echo_unidirectional(peer, count, stats):
    """Sends `count` messages at once, each on a unidirectional stream of its own with a FIN; the
    server must echo each on a unidirectional stream of its own, opened in the same order, within
    ECHO_LIMIT."""
    messages = []
    for seq in range(count):
        stream_id = peer._quic.get_next_available_stream_id(is_unidirectional=True)
        message = seq.to_bytes(4, "big") + os.urandom(1000 * (seq + 1))
        peer._quic.send_stream_data(stream_id, message, end_stream=True)
        messages.append(message)
    peer.transmit()
    deadline = asyncio.get_running_loop().time() + ECHO_LIMIT
    while sum(1 for stream_id in peer.server_uni if stream_id in peer.fins) < count:
        remaining = deadline - asyncio.get_running_loop().time()
        peer.server_uni_changed.clear()
        await asyncio.wait_for(peer.server_uni_changed.wait(), max(remaining, 0))
    echoes = [bytes(peer.server_uni[stream_id]) for stream_id in sorted(peer.server_uni)]
    if len(echoes) != count:
        raise Failure(f"{len(echoes)} unidirectional streams came back for {count} sent")
    for seq, (message, echo) in enumerate(zip(messages, echoes)):
        if echo != message:
            raise Failure(f"unidirectional stream {seq}: the echo differs ({len(echo)} bytes for {len(message)})")
        stats["uni"] += 1


async def echo_datagrams(peer, count, stats):
    """Sends `count` DATAGRAM frames one at a time; each must come back intact within ECHO_LIMIT."""
    if peer._quic._remote_max_datagram_frame_size is None:
        raise Failure("the server did not offer DATAGRAM frames (max_datagram_frame_size)")
    for seq in range(count):
        message = seq.to_bytes(4, "big") + os.urandom(96)
        peer._quic.send_datagram_frame(message)
        peer.transmit()
        echo = await asyncio.wait_for(peer.datagrams.get(), ECHO_LIMIT)
        if echo != message:
            raise Failure(f"datagram {seq}: the echo differs ({len(echo)} bytes for {len(message)})")
        stats["datagrams"] += 1


def self_signed(names, addresses):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aioquic echo test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    alt_names = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


async def echo_handler(reader, writer, key_update=False, after_fin=False):
    stream_id = writer.get_extra_info("stream_id")
    total = 0
    try:
        if after_fin:  # the request/response kind of echo: all of it, once the client finishes
            data = await reader.read()
            total = len(data)
            writer.write(data)
        while not after_fin:
            data = await reader.read(65536)
            if not data:
                break
            total += len(data)
            writer.write(data)
            peer = writer.transport.protocol
            if key_update and not getattr(peer, "key_updated", False):
                peer.key_updated = True
                peer._quic.request_key_update()
                peer.transmit()
                log("key update requested")
        writer.write_eof()
        log(f"stream {stream_id}: echoed {total} bytes, FIN sent")
    except Exception as error:  # report, never take the server down
        log(f"stream {stream_id}: {error!r}")


class EchoServerPeer(Peer):
    def transmit(self):
        super().transmit()
        # aioquic (1.x) issues new connection IDs while writing packets, but adds them to the
        # server's routing table only when it next processes events (next datagram or timer).
        # A client that moves to a new ID at once, as s2n-quic does, has its packets dropped
        # until then: stream data is resent, DATAGRAM frames are lost (seen under load). Route
        # the new IDs now. (Events are not processed twice: the loop takes each one once.)
        if not getattr(self, "_routing", False):
            self._routing = True
            try:
                self._process_events()
            finally:
                self._routing = False

    def quic_event_received(self, event):
        if isinstance(event, events.DatagramFrameReceived):
            self._quic.send_datagram_frame(event.data)
            self.transmit()
            return
        if isinstance(event, events.ProtocolNegotiated):
            log(f"connection, alpn {event.alpn_protocol}")
        elif isinstance(event, events.ConnectionTerminated):
            if getattr(self, "key_updated", False):
                sent, received = key_phases(self)
                log(f"key phase after the update: sent {sent}, received {received}")
            log(f"connection closed: error {event.error_code:#x}, reason {event.reason_phrase!r}")
        super().quic_event_received(event)


async def run_server(args):
    configuration = QuicConfiguration(
        is_client=False, alpn_protocols=args.alpn, idle_timeout=30.0, max_datagram_frame_size=65536
    )
    if args.quic_version == 2:
        from aioquic.quic.packet import QuicProtocolVersion

        configuration.supported_versions = [QuicProtocolVersion.VERSION_2]
    if args.cert or args.key:
        if not (args.cert and args.key):
            log("--cert and --key go together")
            return 2
        configuration.load_cert_chain(args.cert, args.key)
    else:
        configuration.certificate, configuration.private_key = self_signed(["localhost"], ["127.0.0.1", "::1"])

    tasks = set()

    def on_stream(reader, writer):
        task = asyncio.ensure_future(echo_handler(reader, writer, args.key_update, args.after_fin))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # Session tickets, kept in memory, so that clients can resume.
    tickets = {}
    server = await serve(
        args.host,
        args.port,
        configuration=configuration,
        create_protocol=EchoServerPeer,
        stream_handler=on_stream,
        retry=args.retry,
        session_ticket_fetcher=tickets.get,
        session_ticket_handler=lambda ticket: tickets.__setitem__(ticket.ticket, ticket),
    )
    host, port = server._transport.get_extra_info("sockname")[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on {shown}:{port}, alpn {','.join(args.alpn)}", flush=True)
    try:
        await asyncio.Event().wait()  # until killed
    finally:
        server.close()
    return 0


def offer_only(names):
    """Makes the client offer key shares for exactly these groups. aioquic has no setting for it, so
    this patches the list its TLS context builds (aioquic 1.x: `Context._supported_groups`)."""
    from aioquic import tls

    groups = {"secp256r1": tls.Group.SECP256R1, "secp384r1": tls.Group.SECP384R1, "x25519": tls.Group.X25519}
    unknown = [name for name in names if name not in groups]
    if unknown:
        sys.exit(f"--groups: unknown group(s) {unknown}; known: {sorted(groups)}")
    original_init = tls.Context.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if not hasattr(self, "_supported_groups"):
            sys.exit("--groups: this aioquic has no Context._supported_groups to patch")
        self._supported_groups = [groups[name] for name in names]

    tls.Context.__init__ = init


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = parser.add_subparsers(dest="mode", required=True)

    client = modes.add_parser("client")
    client.add_argument("host")
    client.add_argument("port", type=int)
    client.add_argument("--alpn", action="append", required=True)
    client.add_argument("--count", type=int, default=1)
    client.add_argument("--size", dest="sizes", type=parse_sizes, default=[32], help="bytes per message; a comma list cycles")
    client.add_argument("--streams", type=int, default=1)
    client.add_argument("--ca")
    client.add_argument("--server-name", default="localhost")
    client.add_argument("--groups", type=lambda text: text.split(","), help="key exchange groups to offer")
    client.add_argument("--datagrams", type=int, default=0, help="DATAGRAM frames to echo after the streams")
    client.add_argument("--uni", type=int, default=0, help="unidirectional streams to echo after the rest, at once")
    client.add_argument("--key-update", action="store_true", help="update the 1-RTT keys after the first echo")
    client.add_argument("--qlog", help="write a qlog trace of each connection into this directory")
    client.add_argument("--resume", action="store_true", help="connect twice, the second time offering the first connection's session ticket")

    server = modes.add_parser("server")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=0)
    server.add_argument("--alpn", action="append", required=True)
    server.add_argument("--cert")
    server.add_argument("--key")
    server.add_argument("--quic-version", type=int, choices=[1, 2], default=1)
    server.add_argument("--retry", action="store_true", help="make every client prove its address first")
    server.add_argument("--after-fin", action="store_true", help="echo a stream only once the client has finished it")
    server.add_argument("--key-update", action="store_true", help="update the 1-RTT keys after a connection's first echo")

    args = parser.parse_args()
    if args.mode == "client" and args.groups:
        offer_only(args.groups)
    if args.mode == "client":
        if args.count < 1 or args.streams < 1:
            parser.error("--count and --streams must be at least 1")
        try:
            code = asyncio.run(asyncio.wait_for(run_client(args), CLIENT_LIMIT))
        except asyncio.TimeoutError:
            log(f"client did not finish within {CLIENT_LIMIT}s")
            code = 2
        sys.exit(code)
    try:
        sys.exit(asyncio.run(run_server(args)))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
