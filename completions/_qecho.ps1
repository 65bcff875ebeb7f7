
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'qecho' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'qecho'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'qecho' {
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('generate-docs', 'generate-docs', [CompletionResultType]::ParameterValue, 'Write the man pages and completion scripts into man/ and completions/ (for maintainers)')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run an echo server: every stream a client opens is echoed back byte for byte')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Connect to an echo server, send a message every interval and check each echo')
            [CompletionResult]::new('gencert', 'gencert', [CompletionResultType]::ParameterValue, 'Write a certificate and private key (PEM, ECDSA P-256): self-signed, a CA, or signed by it')
            [CompletionResult]::new('probe', 'probe', [CompletionResultType]::ParameterValue, 'Check whether QUIC works to any QUIC server, and report what that server offers')
            [CompletionResult]::new('relay', 'relay', [CompletionResultType]::ParameterValue, 'Relay UDP between clients and a server, making the path as bad as asked: loss, delay, jitter, reordering, duplication, corruption, a rate limit, a small MTU, outages, NAT rebinding')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print the shell completion script for SHELL to standard output')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'qecho;generate-docs' {
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'The repository to write man/ and completions/ into')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'qecho;serve' {
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Address to listen on (IP:PORT). IPv6 goes in brackets, [::]:9999 listens on IPv6 and IPv4; port 0 picks a free port, which the "listening on" line reports')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on (IP:PORT). IPv6 goes in brackets, [::]:9999 listens on IPv6 and IPv4; port 0 picks a free port, which the "listening on" line reports')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'Certificate chain to present (PEM). Without --cert and --key, an ephemeral self-signed certificate is made for localhost, 127.0.0.1, ::1 and the listen host')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Private key of --cert (PEM)')
            [CompletionResult]::new('--client-ca', '--client-ca', [CompletionResultType]::ParameterName, 'Require every client to present a certificate signed by this CA (PEM; mutual TLS), such as `qecho gencert --ca` writes. A client without one, or with one from another CA, is refused and the refusal logged; an accepted client''s certificate subject and fingerprint are logged on its connection line')
            [CompletionResult]::new('--keylog', '--keylog', [CompletionResultType]::ParameterName, 'Append the TLS secrets of every connection to FILE in the NSS key log format, for Wireshark to decrypt a capture; SSLKEYLOGFILE does the same when --keylog is not given. For debugging only: anyone with the file can read the traffic; a warning says so. The file is created with mode 0600')
            [CompletionResult]::new('--alpn', '--alpn', [CompletionResultType]::ParameterName, 'Application protocol (ALPN) to speak; repeat the flag for several, in order of preference. The default covers qecho and quic-go''s echo example, both as quic-go ships it (quic-echo-example) and in its classic form (quic-example)')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Connections served at once; past it, new ones are refused with CONNECTION_REFUSED while existing ones carry on')
            [CompletionResult]::new('--retry-threshold', '--retry-threshold', [CompletionResultType]::ParameterName, 'Handshakes in flight past which clients must first prove their address with a Retry round trip (address validation, RFC 9000 8.1): cheap protection against spoofed floods')
            [CompletionResult]::new('--max-streams', '--max-streams', [CompletionResultType]::ParameterName, 'Streams a client may have open at once on one connection, of each kind (bidirectional and unidirectional); more wait for a free slot. Each echo buffers at most 4 MiB (2 MiB receive window, 2 MiB send buffer)')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Close a connection after this long without a packet from the client (humantime). Clients that send nothing, or trickle slower than this, are closed')
            [CompletionResult]::new('--handshake-timeout', '--handshake-timeout', [CompletionResultType]::ParameterName, 'Give up on a handshake that has not completed after this long (humantime)')
            [CompletionResult]::new('--cc', '--cc', [CompletionResultType]::ParameterName, 'Congestion controller for what this end sends: cubic (RFC 9438, as Linux''s TCP uses it) or bbr (paces at the bottleneck rate and RTT it measures, rather than halving its window at each loss). Each end controls its own sending, so set both for a fair comparison')
            [CompletionResult]::new('--qlog', '--qlog', [CompletionResultType]::ParameterName, 'Write a qlog trace of every connection into DIR (created if missing): one JSON-SEQ file per connection in qlog 0.3, named <odcid>_server.sqlog or <odcid>_client.sqlog by its original destination connection ID, for qvis (https://qvis.quictools.info) to open. At most 1000 traces are open at once; past that, new connections are not traced, with a warning')
            [CompletionResult]::new('--ticket-key', '--ticket-key', [CompletionResultType]::ParameterName, 'Encrypt session tickets with the key in FILE (64 hex digits), so that several servers behind one address, or this one after a restart, resume each other''s sessions. A missing FILE is created with a new random key, mode 0600; one that others can read is refused. Without it, each start makes random keys of its own, rotated every 6 hours and never written anywhere')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)')
            [CompletionResult]::new('--tls-thread', '--tls-thread', [CompletionResultType]::ParameterName, 'Do the handshakes'' TLS work (key exchange, signature) on threads of its own rather than in the QUIC endpoint''s one loop, so that echoes on open connections wait less behind a crowd of new ones: during a storm of 64 handshakes in flight, the p99 of 1 ms pings fell from 14 to 10 ms on a 2-core machine. Off by default for its costs, in s2n-quic''s still unstable offload: the server acknowledges each client''s first packet in a datagram of its own, padded to 1200 bytes, before its reply, which spends a third of what it may send before the client''s address is validated; and ECN validation failed in 5 of 12 connections')
            [CompletionResult]::new('--no-session-tickets', '--no-session-tickets', [CompletionResultType]::ParameterName, 'Issue no TLS session tickets: every client makes a full handshake')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'qecho;send' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Time between messages (humantime: 2s, 250ms, 1m; 0s sends back to back) [default: 2s]. Back to back, qecho''s I/O spins briefly before it sleeps, so that the RTT holds less of the client''s own wake-up (about 30 us on loopback), at the cost of a busy core. In bulk mode, the time between interval reports, as iperf3''s -i: a line (or a JSON object with "type":"interval") per interval with the bytes and rates each way, and QUIC''s RTT and losses with --stats [default: 1s; 0s for none]')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Time between messages (humantime: 2s, 250ms, 1m; 0s sends back to back) [default: 2s]. Back to back, qecho''s I/O spins briefly before it sleeps, so that the RTT holds less of the client''s own wake-up (about 30 us on loopback), at the cost of a busy core. In bulk mode, the time between interval reports, as iperf3''s -i: a line (or a JSON object with "type":"interval") per interval with the bytes and rates each way, and QUIC''s RTT and losses with --stats [default: 1s; 0s for none]')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Stop after this many echoes [default: run until Ctrl-C]')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Stop after this many echoes [default: run until Ctrl-C]')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Text to send in every message [default: "qecho seq=N", with the sequence number]')
            [CompletionResult]::new('--message', '--message', [CompletionResultType]::ParameterName, 'Text to send in every message [default: "qecho seq=N", with the sequence number]')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Send generated messages of this size instead (bytes, or with a unit: 1400, 64KiB, 1MB). Each message differs from the one before, so a stale echo cannot pass as a fresh one')
            [CompletionResult]::new('--size', '--size', [CompletionResultType]::ParameterName, 'Send generated messages of this size instead (bytes, or with a unit: 1400, 64KiB, 1MB). Each message differs from the one before, so a stale echo cannot pass as a fresh one')
            [CompletionResult]::new('-W', '-W ', [CompletionResultType]::ParameterName, 'How long to wait for each echo before counting it as lost (humantime). In bulk and pipe mode, how long the echo may make no progress before the run fails')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for each echo before counting it as lost (humantime). In bulk and pipe mode, how long the echo may make no progress before the run fails')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the QUIC handshake with each address (humantime)')
            [CompletionResult]::new('--server-name', '--server-name', [CompletionResultType]::ParameterName, 'Name to check the server''s certificate against, also sent as SNI [default: the host part of ADDR]')
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'Trust this certificate (PEM): a CA, or the server''s own self-signed certificate such as `qecho gencert` writes. Without it, the system''s trusted roots are used')
            [CompletionResult]::new('--pin', '--pin', [CompletionResultType]::ParameterName, 'Trust exactly the server certificate with this SHA-256 fingerprint, as `qecho serve` and `qecho gencert` print it, whatever its issuer, names or dates; any other is refused, and the error shows the fingerprint it had. With --ca, the certificate must also verify against it')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present when the server asks for one (mutual TLS, `qecho serve --client-ca`), such as `qecho gencert --sign-with CA_DIR --client` writes')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Private key of --cert (PEM)')
            [CompletionResult]::new('--keylog', '--keylog', [CompletionResultType]::ParameterName, 'Append the TLS secrets of the connection to FILE in the NSS key log format, for Wireshark to decrypt a capture; SSLKEYLOGFILE does the same when --keylog is not given. For debugging only: anyone with the file can read the traffic; a warning says so. The file is created with mode 0600')
            [CompletionResult]::new('--alpn', '--alpn', [CompletionResultType]::ParameterName, 'Application protocol (ALPN) to speak; repeat the flag for several, in order of preference. The default covers qecho and quic-go''s echo example, both as quic-go ships it (quic-echo-example) and in its classic form (quic-example)')
            [CompletionResult]::new('--streams', '--streams', [CompletionResultType]::ParameterName, 'Streams to run at once on the connection (on each, with --connections in bulk mode), each with its own messages and checks')
            [CompletionResult]::new('--connections', '--connections', [CompletionResultType]::ParameterName, 'Connections mode, the handshake benchmark: open N connections, each doing one echo and closing, and report connections per second and handshake latency p50/p99/max. With --bytes or --duration instead: bulk mode over N connections at once, as iperf3''s -P, each with --streams streams of its own and its own UDP port; --bytes and --rate are shared over all of them, and the summary gives each connection and their sum')
            [CompletionResult]::new('--parallel', '--parallel', [CompletionResultType]::ParameterName, 'With --connections: how many handshakes are in flight at once')
            [CompletionResult]::new('--bytes', '--bytes', [CompletionResultType]::ParameterName, 'Bulk mode: send this much data (1GiB, 500MB) as fast as the connection allows, split over --streams, while reading the echo back and checking it; reports throughput in Gbit/s. Done once every byte is back, as in pipe mode')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Bulk mode: send no faster than this over all streams together (500kbit, 100Mbit, 1Gbit), as iperf3''s -b; the summary gives the rate asked for and the rate achieved. Datagram mode: send datagrams of --size at this rate instead of one per --interval, as iperf3''s UDP mode; the summary adds reordering, duplicates and RFC 3550 jitter')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Bulk mode for this long instead of a fixed size (humantime: 10s, 1m)')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Stop whatever mode is running after this long from the end of the handshake, and print the summary, as on Ctrl-C (humantime) [default: no deadline]')
            [CompletionResult]::new('--deadline', '--deadline', [CompletionResultType]::ParameterName, 'Stop whatever mode is running after this long from the end of the handshake, and print the summary, as on Ctrl-C (humantime) [default: no deadline]')
            [CompletionResult]::new('--cc', '--cc', [CompletionResultType]::ParameterName, 'Congestion controller for what this end sends: cubic (RFC 9438, as Linux''s TCP uses it) or bbr (paces at the bottleneck rate and RTT it measures, rather than halving its window at each loss). Each end controls its own sending, so set both for a fair comparison')
            [CompletionResult]::new('--qlog', '--qlog', [CompletionResultType]::ParameterName, 'Write a qlog trace of every connection into DIR (created if missing): one JSON-SEQ file per connection in qlog 0.3, named <odcid>_server.sqlog or <odcid>_client.sqlog by its original destination connection ID, for qvis (https://qvis.quictools.info) to open. At most 1000 traces are open at once; past that, new connections are not traced, with a warning')
            [CompletionResult]::new('--session', '--session', [CompletionResultType]::ParameterName, 'Read a session ticket from FILE, if there is one for this server name, and offer it; then write the newest ticket back (mode 0600, replaced atomically), so that the next run resumes, like ngtcp2''s and quiche''s --session-file. A corrupt, expired or foreign FILE is a warning and a full handshake')
            [CompletionResult]::new('--bind', '--bind', [CompletionResultType]::ParameterName, 'Local address (and port) to send from, e.g. 127.0.0.1:0 or [::1]:5000 [default: any address of the right family, any port]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate at all (like curl -k). Anyone on the path can then impersonate the server; a warning says so')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate at all (like curl -k). Anyone on the path can then impersonate the server; a warning says so')
            [CompletionResult]::new('--stdin', '--stdin', [CompletionResultType]::ParameterName, 'Pipe mode: send standard input on one stream, finish it at end of input, and write the echo to standard output (also written `qecho send ADDR -`). Done once every byte is back: a server that does not finish its side (quic-go''s echo example) is given 250 ms more')
            [CompletionResult]::new('--fin', '--fin', [CompletionResultType]::ParameterName, 'Send each message on a stream of its own and finish that stream right after it, for servers that echo a stream only once the client has finished it (read everything, then write it back). The echo counts as soon as it is whole. Without --fin, all messages share one open stream, which is what quic-go''s echo example needs: it echoes only the first stream')
            [CompletionResult]::new('--datagram', '--datagram', [CompletionResultType]::ParameterName, 'Datagram mode: echo unreliable QUIC DATAGRAM frames (RFC 9221) instead of a stream, like ICMP ping: nothing is retransmitted, so lost packets show up as loss')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'Show QUIC''s own view next to each round-trip time (its smoothed RTT and the packets lost so far), and QUIC''s totals (RTTs, packets sent/received/lost, congestion window, bytes, the path MTU it found) in the summary of every mode')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on standard output: one object per echo and one for the summary (bulk mode: one object at the end)')
            [CompletionResult]::new('--resume', '--resume', [CompletionResultType]::ParameterName, 'Resume: keep the session ticket the server sends on a first connection, and offer it on the next, which then skips the certificate and its signature (TLS 1.3 resumption). In ping, bulk and datagram mode a first, short connection fetches the ticket and the run happens on a resumed one: the "connected" line shows both handshake times. With --connections, every connection after the first resumes, and the summary counts resumed and full handshakes. 0-RTT (sending data in the first flight) is not possible: s2n-quic 1.91 does not implement it (its issue #339)')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'Use IPv4 addresses of ADDR only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'Use IPv6 addresses of ADDR only')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'qecho;gencert' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Directory to write cert.pem and key.pem into, or ca.pem and ca-key.pem with --ca (created if missing)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Directory to write cert.pem and key.pem into, or ca.pem and ca-key.pem with --ca (created if missing)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Name the certificate is valid for; repeat for several. An IP address becomes an IP SAN, anything else a DNS SAN; the first is also the subject''s common name. With --ca, the CA''s one name [default: localhost, 127.0.0.1 and ::1; with --ca, "qecho CA"; --client needs one]')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Name the certificate is valid for; repeat for several. An IP address becomes an IP SAN, anything else a DNS SAN; the first is also the subject''s common name. With --ca, the CA''s one name [default: localhost, 127.0.0.1 and ::1; with --ca, "qecho CA"; --client needs one]')
            [CompletionResult]::new('--valid-for', '--valid-for', [CompletionResultType]::ParameterName, 'How long the certificate stays valid, from now (humantime: 365days, 90days, 12h); with --sign-with, no longer than the CA itself, since verifiers refuse a chain whose CA expired')
            [CompletionResult]::new('--sign-with', '--sign-with', [CompletionResultType]::ParameterName, 'Sign the certificate with the CA in CA_DIR (its ca.pem and ca-key.pem, as --ca writes them) instead of by itself')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite the certificate and key files if they exist')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite the certificate and key files if they exist')
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'Make a certificate authority instead: ca.pem and ca-key.pem, to issue server and client certificates with --sign-with, and for `qecho send --ca` and `qecho serve --client-ca` to trust')
            [CompletionResult]::new('--client', '--client', [CompletionResultType]::ParameterName, 'Make a client certificate (for client authentication, `qecho send --cert`) instead of a server certificate')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'qecho;probe' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Read more targets from FILE, one per line (`-` for standard input); blank lines and lines starting with # are skipped')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Read more targets from FILE, one per line (`-` for standard input); blank lines and lines starting with # are skipped')
            [CompletionResult]::new('--alpn', '--alpn', [CompletionResultType]::ParameterName, 'Application protocol (ALPN) to offer; repeat for several, in order of preference: h3 for HTTP/3 servers, doq for DNS over QUIC, qecho for `qecho serve`')
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'Trust this certificate (PEM): a CA, or the server''s own self-signed certificate such as `qecho gencert` writes. Without it, the system''s trusted roots are used')
            [CompletionResult]::new('--pin', '--pin', [CompletionResultType]::ParameterName, 'Trust exactly the server certificate with this SHA-256 fingerprint, as `qecho serve` and `qecho gencert` print it, whatever its issuer, names or dates; any other is refused, and the error shows the fingerprint it had. With --ca, the certificate must also verify against it')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present when the server asks for one (mutual TLS, `qecho serve --client-ca`), such as `qecho gencert --sign-with CA_DIR --client` writes')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Private key of --cert (PEM)')
            [CompletionResult]::new('--parallel', '--parallel', [CompletionResultType]::ParameterName, 'How many targets to probe at once')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long each target may take, handshakes, resumption and MTU search together (humantime)')
            [CompletionResult]::new('--max-mtu', '--max-mtu', [CompletionResultType]::ParameterName, 'The largest UDP payload path MTU discovery tries, in bytes (1200 to 9000): the probe reports the largest that got through')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate at all (like curl -k). Anyone on the path can then impersonate the server; a warning says so')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate at all (like curl -k). Anyone on the path can then impersonate the server; a warning says so')
            [CompletionResult]::new('--long', '--long', [CompletionResultType]::ParameterName, 'One block per target even for several targets (instead of one line each)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON object per target, one per line, in the order given')
            [CompletionResult]::new('--csv', '--csv', [CompletionResultType]::ParameterName, 'Comma-separated values: a header line, then one line per target')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'Use IPv4 addresses only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'Use IPv6 addresses only')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'qecho;relay' {
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Address to listen on for clients (IP:PORT; port 0 picks a free port, which the "listening on" line reports)')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on for clients (IP:PORT; port 0 picks a free port, which the "listening on" line reports)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'The server to relay to (HOST:PORT), such as `qecho serve` on its default address')
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'The server to relay to (HOST:PORT), such as `qecho serve` on its default address')
            [CompletionResult]::new('--seed', '--seed', [CompletionResultType]::ParameterName, 'Seed for the random choices (loss, jitter, duplication, corruption), so that a run can be repeated: the same seed makes the same choices for the same sequence of datagrams [default: a fresh seed, printed on the listening line]')
            [CompletionResult]::new('--loss', '--loss', [CompletionResultType]::ParameterName, 'Drop each datagram with this probability (30%, 0.5%, or the fraction 0.3), independently')
            [CompletionResult]::new('--handshake-loss', '--handshake-loss', [CompletionResultType]::ParameterName, 'Drop each datagram that carries a QUIC long header (Initial, 0-RTT, Handshake, Retry) with this probability, and nothing else: the QUIC interop runner''s handshakeloss case')
            [CompletionResult]::new('--delay', '--delay', [CompletionResultType]::ParameterName, 'Hold each datagram this long (humantime: 20ms, 750ms), as a long path does: the round trip grows by twice this')
            [CompletionResult]::new('--jitter', '--jitter', [CompletionResultType]::ParameterName, 'Vary each datagram''s delay at random by up to this much either way (uniformly, never below zero, as netem does): datagrams overtake each other, as on a real path whose jitter exceeds the gap between packets')
            [CompletionResult]::new('--duplicate', '--duplicate', [CompletionResultType]::ParameterName, 'Send each datagram twice with this probability')
            [CompletionResult]::new('--corrupt', '--corrupt', [CompletionResultType]::ParameterName, 'Flip one random bit of each datagram with this probability')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'A bottleneck of this rate (500kbit, 50Mbit, 1Gbit): datagrams leave no faster, and wait in a queue of --queue bytes; past it they are dropped (tail drop), and counted')
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'The bottleneck''s queue, in bytes [default: what --rate carries in 50 ms, at least 64 KiB]')
            [CompletionResult]::new('--mtu', '--mtu', [CompletionResultType]::ParameterName, 'Drop every datagram whose IP packet (the UDP payload plus 28 bytes of IPv4 and UDP header, or 48 with IPv6) is larger than this: a path MTU black hole')
            [CompletionResult]::new('--outage', '--outage', [CompletionResultType]::ParameterName, 'Let nothing through for this long, once every --outage-every (humantime): a blackhole, as when a link goes down or a phone changes cells. The first outage starts one period after the relay starts')
            [CompletionResult]::new('--outage-every', '--outage-every', [CompletionResultType]::ParameterName, 'The period of --outage (humantime)')
            [CompletionResult]::new('--pass-first', '--pass-first', [CompletionResultType]::ParameterName, 'Pass only the first N datagrams, then drop all the rest: with --up-pass-first 1, a server hears a client''s first flight only, and can be seen to respect its anti-amplification limit')
            [CompletionResult]::new('--rebind-every', '--rebind-every', [CompletionResultType]::ParameterName, 'Move each client''s upstream socket to a new port this often (humantime), as a NAT rebinding does: the server sees the same connection arrive from a new address')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Forget a client''s mapping after this long without a datagram from it (humantime); RFC 4787 asks NATs for at least 2 minutes')
            [CompletionResult]::new('--up-loss', '--up-loss', [CompletionResultType]::ParameterName, '--loss from client to server only')
            [CompletionResult]::new('--down-loss', '--down-loss', [CompletionResultType]::ParameterName, '--loss from server to client only')
            [CompletionResult]::new('--up-handshake-loss', '--up-handshake-loss', [CompletionResultType]::ParameterName, '--handshake-loss from client to server only')
            [CompletionResult]::new('--down-handshake-loss', '--down-handshake-loss', [CompletionResultType]::ParameterName, '--handshake-loss from server to client only')
            [CompletionResult]::new('--up-delay', '--up-delay', [CompletionResultType]::ParameterName, '--delay from client to server only')
            [CompletionResult]::new('--down-delay', '--down-delay', [CompletionResultType]::ParameterName, '--delay from server to client only')
            [CompletionResult]::new('--up-jitter', '--up-jitter', [CompletionResultType]::ParameterName, '--jitter from client to server only')
            [CompletionResult]::new('--down-jitter', '--down-jitter', [CompletionResultType]::ParameterName, '--jitter from server to client only')
            [CompletionResult]::new('--up-duplicate', '--up-duplicate', [CompletionResultType]::ParameterName, '--duplicate from client to server only')
            [CompletionResult]::new('--down-duplicate', '--down-duplicate', [CompletionResultType]::ParameterName, '--duplicate from server to client only')
            [CompletionResult]::new('--up-corrupt', '--up-corrupt', [CompletionResultType]::ParameterName, '--corrupt from client to server only')
            [CompletionResult]::new('--down-corrupt', '--down-corrupt', [CompletionResultType]::ParameterName, '--corrupt from server to client only')
            [CompletionResult]::new('--up-rate', '--up-rate', [CompletionResultType]::ParameterName, '--rate from client to server only')
            [CompletionResult]::new('--down-rate', '--down-rate', [CompletionResultType]::ParameterName, '--rate from server to client only')
            [CompletionResult]::new('--up-queue', '--up-queue', [CompletionResultType]::ParameterName, '--queue from client to server only')
            [CompletionResult]::new('--down-queue', '--down-queue', [CompletionResultType]::ParameterName, '--queue from server to client only')
            [CompletionResult]::new('--up-mtu', '--up-mtu', [CompletionResultType]::ParameterName, '--mtu from client to server only')
            [CompletionResult]::new('--down-mtu', '--down-mtu', [CompletionResultType]::ParameterName, '--mtu from server to client only')
            [CompletionResult]::new('--up-outage', '--up-outage', [CompletionResultType]::ParameterName, '--outage from client to server only (with --outage-every)')
            [CompletionResult]::new('--down-outage', '--down-outage', [CompletionResultType]::ParameterName, '--outage from server to client only (with --outage-every)')
            [CompletionResult]::new('--up-pass-first', '--up-pass-first', [CompletionResultType]::ParameterName, '--pass-first from client to server only')
            [CompletionResult]::new('--down-pass-first', '--down-pass-first', [CompletionResultType]::ParameterName, '--pass-first from server to client only')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'qecho;completions' {
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'qecho;help' {
            [CompletionResult]::new('generate-docs', 'generate-docs', [CompletionResultType]::ParameterValue, 'Write the man pages and completion scripts into man/ and completions/ (for maintainers)')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run an echo server: every stream a client opens is echoed back byte for byte')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Connect to an echo server, send a message every interval and check each echo')
            [CompletionResult]::new('gencert', 'gencert', [CompletionResultType]::ParameterValue, 'Write a certificate and private key (PEM, ECDSA P-256): self-signed, a CA, or signed by it')
            [CompletionResult]::new('probe', 'probe', [CompletionResultType]::ParameterValue, 'Check whether QUIC works to any QUIC server, and report what that server offers')
            [CompletionResult]::new('relay', 'relay', [CompletionResultType]::ParameterValue, 'Relay UDP between clients and a server, making the path as bad as asked: loss, delay, jitter, reordering, duplication, corruption, a rate limit, a small MTU, outages, NAT rebinding')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print the shell completion script for SHELL to standard output')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'qecho;help;generate-docs' {
            break
        }
        'qecho;help;serve' {
            break
        }
        'qecho;help;send' {
            break
        }
        'qecho;help;gencert' {
            break
        }
        'qecho;help;probe' {
            break
        }
        'qecho;help;relay' {
            break
        }
        'qecho;help;completions' {
            break
        }
        'qecho;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
