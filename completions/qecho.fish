# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_qecho_global_optspecs
    string join \n v/verbose q/quiet log-format= h/help V/version
end

function __fish_qecho_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_qecho_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_qecho_using_subcommand
    set -l cmd (__fish_qecho_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c qecho -n "__fish_qecho_needs_command" -l log-format -d 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)' -r -f -a "text\t'For people: one line per event, coloured on a terminal'
json\t'For log shippers: one JSON object per line, with timestamp, level, message and fields'"
complete -c qecho -n "__fish_qecho_needs_command" -s v -l verbose -d 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_needs_command" -s q -l quiet -d 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qecho -n "__fish_qecho_needs_command" -s V -l version -d 'Print version'
complete -c qecho -n "__fish_qecho_needs_command" -f -a "generate-docs" -d 'Write the man pages and completion scripts into man/ and completions/ (for maintainers)'
complete -c qecho -n "__fish_qecho_needs_command" -f -a "serve" -d 'Run an echo server: every stream a client opens is echoed back byte for byte'
complete -c qecho -n "__fish_qecho_needs_command" -f -a "send" -d 'Connect to an echo server, send a message every interval and check each echo'
complete -c qecho -n "__fish_qecho_needs_command" -f -a "gencert" -d 'Write a certificate and private key (PEM, ECDSA P-256): self-signed, a CA, or signed by it'
complete -c qecho -n "__fish_qecho_needs_command" -f -a "probe" -d 'Check whether QUIC works to any QUIC server, and report what that server offers'
complete -c qecho -n "__fish_qecho_needs_command" -f -a "relay" -d 'Relay UDP between clients and a server, making the path as bad as asked: loss, delay, jitter, reordering, duplication, corruption, a rate limit, a small MTU, outages, NAT rebinding'
complete -c qecho -n "__fish_qecho_needs_command" -f -a "completions" -d 'Print the shell completion script for SHELL to standard output'
complete -c qecho -n "__fish_qecho_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c qecho -n "__fish_qecho_using_subcommand generate-docs" -l root -d 'The repository to write man/ and completions/ into' -r -f -a "(__fish_complete_directories)"
complete -c qecho -n "__fish_qecho_using_subcommand generate-docs" -l log-format -d 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)' -r -f -a "text\t'For people: one line per event, coloured on a terminal'
json\t'For log shippers: one JSON object per line, with timestamp, level, message and fields'"
complete -c qecho -n "__fish_qecho_using_subcommand generate-docs" -s v -l verbose -d 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand generate-docs" -s q -l quiet -d 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand generate-docs" -s h -l help -d 'Print help'
complete -c qecho -n "__fish_qecho_using_subcommand generate-docs" -s V -l version -d 'Print version'
complete -c qecho -n "__fish_qecho_using_subcommand serve" -s l -l listen -d 'Address to listen on (IP:PORT). IPv6 goes in brackets, [::]:9999 listens on IPv6 and IPv4; port 0 picks a free port, which the "listening on" line reports' -r
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l cert -d 'Certificate chain to present (PEM). Without --cert and --key, an ephemeral self-signed certificate is made for localhost, 127.0.0.1, ::1 and the listen host' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l key -d 'Private key of --cert (PEM)' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l client-ca -d 'Require every client to present a certificate signed by this CA (PEM; mutual TLS), such as `qecho gencert --ca` writes. A client without one, or with one from another CA, is refused and the refusal logged; an accepted client\'s certificate subject and fingerprint are logged on its connection line' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l keylog -d 'Append the TLS secrets of every connection to FILE in the NSS key log format, for Wireshark to decrypt a capture; SSLKEYLOGFILE does the same when --keylog is not given. For debugging only: anyone with the file can read the traffic; a warning says so. The file is created with mode 0600' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l alpn -d 'Application protocol (ALPN) to speak; repeat the flag for several, in order of preference. The default covers qecho and quic-go\'s echo example, both as quic-go ships it (quic-echo-example) and in its classic form (quic-example)' -r
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l max-connections -d 'Connections served at once; past it, new ones are refused with CONNECTION_REFUSED while existing ones carry on' -r
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l retry-threshold -d 'Handshakes in flight past which clients must first prove their address with a Retry round trip (address validation, RFC 9000 8.1): cheap protection against spoofed floods' -r
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l max-streams -d 'Streams a client may have open at once on one connection, of each kind (bidirectional and unidirectional); more wait for a free slot. Each echo buffers at most 4 MiB (2 MiB receive window, 2 MiB send buffer)' -r
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l idle-timeout -d 'Close a connection after this long without a packet from the client (humantime). Clients that send nothing, or trickle slower than this, are closed' -r
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l handshake-timeout -d 'Give up on a handshake that has not completed after this long (humantime)' -r
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l cc -d 'Congestion controller for what this end sends: cubic (RFC 9438, as Linux\'s TCP uses it) or bbr (paces at the bottleneck rate and RTT it measures, rather than halving its window at each loss). Each end controls its own sending, so set both for a fair comparison' -r -f -a "cubic\t'CUBIC, s2n-quic\'s default'
bbr\t'BBR'"
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l qlog -d 'Write a qlog trace of every connection into DIR (created if missing): one JSON-SEQ file per connection in qlog 0.3, named <odcid>_server.sqlog or <odcid>_client.sqlog by its original destination connection ID, for qvis (https://qvis.quictools.info) to open. At most 1000 traces are open at once; past that, new connections are not traced, with a warning' -r -f -a "(__fish_complete_directories)"
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l ticket-key -d 'Encrypt session tickets with the key in FILE (64 hex digits), so that several servers behind one address, or this one after a restart, resume each other\'s sessions. A missing FILE is created with a new random key, mode 0600; one that others can read is refused. Without it, each start makes random keys of its own, rotated every 6 hours and never written anywhere' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l log-format -d 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)' -r -f -a "text\t'For people: one line per event, coloured on a terminal'
json\t'For log shippers: one JSON object per line, with timestamp, level, message and fields'"
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l tls-thread -d 'Do the handshakes\' TLS work (key exchange, signature) on threads of its own rather than in the QUIC endpoint\'s one loop, so that echoes on open connections wait less behind a crowd of new ones: during a storm of 64 handshakes in flight, the p99 of 1 ms pings fell from 14 to 10 ms on a 2-core machine. Off by default for its costs, in s2n-quic\'s still unstable offload: the server acknowledges each client\'s first packet in a datagram of its own, padded to 1200 bytes, before its reply, which spends a third of what it may send before the client\'s address is validated; and ECN validation failed in 5 of 12 connections'
complete -c qecho -n "__fish_qecho_using_subcommand serve" -l no-session-tickets -d 'Issue no TLS session tickets: every client makes a full handshake'
complete -c qecho -n "__fish_qecho_using_subcommand serve" -s v -l verbose -d 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand serve" -s q -l quiet -d 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qecho -n "__fish_qecho_using_subcommand serve" -s V -l version -d 'Print version'
complete -c qecho -n "__fish_qecho_using_subcommand send" -s i -l interval -d 'Time between messages (humantime: 2s, 250ms, 1m; 0s sends back to back) [default: 2s]. Back to back, qecho\'s I/O spins briefly before it sleeps, so that the RTT holds less of the client\'s own wake-up (about 30 us on loopback), at the cost of a busy core. In bulk mode, the time between interval reports, as iperf3\'s -i: a line (or a JSON object with "type":"interval") per interval with the bytes and rates each way, and QUIC\'s RTT and losses with --stats [default: 1s; 0s for none]' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -s c -l count -d 'Stop after this many echoes [default: run until Ctrl-C]' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -s m -l message -d 'Text to send in every message [default: "qecho seq=N", with the sequence number]' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -s s -l size -d 'Send generated messages of this size instead (bytes, or with a unit: 1400, 64KiB, 1MB). Each message differs from the one before, so a stale echo cannot pass as a fresh one' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -s W -l timeout -d 'How long to wait for each echo before counting it as lost (humantime). In bulk and pipe mode, how long the echo may make no progress before the run fails' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -l connect-timeout -d 'How long to wait for the QUIC handshake with each address (humantime)' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -l server-name -d 'Name to check the server\'s certificate against, also sent as SNI [default: the host part of ADDR]' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -l ca -d 'Trust this certificate (PEM): a CA, or the server\'s own self-signed certificate such as `qecho gencert` writes. Without it, the system\'s trusted roots are used' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand send" -l pin -d 'Trust exactly the server certificate with this SHA-256 fingerprint, as `qecho serve` and `qecho gencert` print it, whatever its issuer, names or dates; any other is refused, and the error shows the fingerprint it had. With --ca, the certificate must also verify against it' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -l cert -d 'Client certificate (PEM) to present when the server asks for one (mutual TLS, `qecho serve --client-ca`), such as `qecho gencert --sign-with CA_DIR --client` writes' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand send" -l key -d 'Private key of --cert (PEM)' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand send" -l keylog -d 'Append the TLS secrets of the connection to FILE in the NSS key log format, for Wireshark to decrypt a capture; SSLKEYLOGFILE does the same when --keylog is not given. For debugging only: anyone with the file can read the traffic; a warning says so. The file is created with mode 0600' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand send" -l alpn -d 'Application protocol (ALPN) to speak; repeat the flag for several, in order of preference. The default covers qecho and quic-go\'s echo example, both as quic-go ships it (quic-echo-example) and in its classic form (quic-example)' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -l streams -d 'Streams to run at once on the connection (on each, with --connections in bulk mode), each with its own messages and checks' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -l connections -d 'Connections mode, the handshake benchmark: open N connections, each doing one echo and closing, and report connections per second and handshake latency p50/p99/max. With --bytes or --duration instead: bulk mode over N connections at once, as iperf3\'s -P, each with --streams streams of its own and its own UDP port; --bytes and --rate are shared over all of them, and the summary gives each connection and their sum' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -l parallel -d 'With --connections: how many handshakes are in flight at once' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -l bytes -d 'Bulk mode: send this much data (1GiB, 500MB) as fast as the connection allows, split over --streams, while reading the echo back and checking it; reports throughput in Gbit/s. Done once every byte is back, as in pipe mode' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -l rate -d 'Bulk mode: send no faster than this over all streams together (500kbit, 100Mbit, 1Gbit), as iperf3\'s -b; the summary gives the rate asked for and the rate achieved. Datagram mode: send datagrams of --size at this rate instead of one per --interval, as iperf3\'s UDP mode; the summary adds reordering, duplicates and RFC 3550 jitter' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -l duration -d 'Bulk mode for this long instead of a fixed size (humantime: 10s, 1m)' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -s w -l deadline -d 'Stop whatever mode is running after this long from the end of the handshake, and print the summary, as on Ctrl-C (humantime) [default: no deadline]' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -l cc -d 'Congestion controller for what this end sends: cubic (RFC 9438, as Linux\'s TCP uses it) or bbr (paces at the bottleneck rate and RTT it measures, rather than halving its window at each loss). Each end controls its own sending, so set both for a fair comparison' -r -f -a "cubic\t'CUBIC, s2n-quic\'s default'
bbr\t'BBR'"
complete -c qecho -n "__fish_qecho_using_subcommand send" -l qlog -d 'Write a qlog trace of every connection into DIR (created if missing): one JSON-SEQ file per connection in qlog 0.3, named <odcid>_server.sqlog or <odcid>_client.sqlog by its original destination connection ID, for qvis (https://qvis.quictools.info) to open. At most 1000 traces are open at once; past that, new connections are not traced, with a warning' -r -f -a "(__fish_complete_directories)"
complete -c qecho -n "__fish_qecho_using_subcommand send" -l session -d 'Read a session ticket from FILE, if there is one for this server name, and offer it; then write the newest ticket back (mode 0600, replaced atomically), so that the next run resumes, like ngtcp2\'s and quiche\'s --session-file. A corrupt, expired or foreign FILE is a warning and a full handshake' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand send" -l bind -d 'Local address (and port) to send from, e.g. 127.0.0.1:0 or [::1]:5000 [default: any address of the right family, any port]' -r
complete -c qecho -n "__fish_qecho_using_subcommand send" -l log-format -d 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)' -r -f -a "text\t'For people: one line per event, coloured on a terminal'
json\t'For log shippers: one JSON object per line, with timestamp, level, message and fields'"
complete -c qecho -n "__fish_qecho_using_subcommand send" -s k -l insecure -d 'Do not verify the server\'s certificate at all (like curl -k). Anyone on the path can then impersonate the server; a warning says so'
complete -c qecho -n "__fish_qecho_using_subcommand send" -l stdin -d 'Pipe mode: send standard input on one stream, finish it at end of input, and write the echo to standard output (also written `qecho send ADDR -`). Done once every byte is back: a server that does not finish its side (quic-go\'s echo example) is given 250 ms more'
complete -c qecho -n "__fish_qecho_using_subcommand send" -l fin -d 'Send each message on a stream of its own and finish that stream right after it, for servers that echo a stream only once the client has finished it (read everything, then write it back). The echo counts as soon as it is whole. Without --fin, all messages share one open stream, which is what quic-go\'s echo example needs: it echoes only the first stream'
complete -c qecho -n "__fish_qecho_using_subcommand send" -l datagram -d 'Datagram mode: echo unreliable QUIC DATAGRAM frames (RFC 9221) instead of a stream, like ICMP ping: nothing is retransmitted, so lost packets show up as loss'
complete -c qecho -n "__fish_qecho_using_subcommand send" -l stats -d 'Show QUIC\'s own view next to each round-trip time (its smoothed RTT and the packets lost so far), and QUIC\'s totals (RTTs, packets sent/received/lost, congestion window, bytes, the path MTU it found) in the summary of every mode'
complete -c qecho -n "__fish_qecho_using_subcommand send" -l json -d 'Print results as JSON on standard output: one object per echo and one for the summary (bulk mode: one object at the end)'
complete -c qecho -n "__fish_qecho_using_subcommand send" -l resume -d 'Resume: keep the session ticket the server sends on a first connection, and offer it on the next, which then skips the certificate and its signature (TLS 1.3 resumption). In ping, bulk and datagram mode a first, short connection fetches the ticket and the run happens on a resumed one: the "connected" line shows both handshake times. With --connections, every connection after the first resumes, and the summary counts resumed and full handshakes. 0-RTT (sending data in the first flight) is not possible: s2n-quic 1.91 does not implement it (its issue #339)'
complete -c qecho -n "__fish_qecho_using_subcommand send" -s 4 -d 'Use IPv4 addresses of ADDR only'
complete -c qecho -n "__fish_qecho_using_subcommand send" -s 6 -d 'Use IPv6 addresses of ADDR only'
complete -c qecho -n "__fish_qecho_using_subcommand send" -s v -l verbose -d 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand send" -s q -l quiet -d 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand send" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qecho -n "__fish_qecho_using_subcommand send" -s V -l version -d 'Print version'
complete -c qecho -n "__fish_qecho_using_subcommand gencert" -s o -l out -d 'Directory to write cert.pem and key.pem into, or ca.pem and ca-key.pem with --ca (created if missing)' -r -f -a "(__fish_complete_directories)"
complete -c qecho -n "__fish_qecho_using_subcommand gencert" -s n -l name -d 'Name the certificate is valid for; repeat for several. An IP address becomes an IP SAN, anything else a DNS SAN; the first is also the subject\'s common name. With --ca, the CA\'s one name [default: localhost, 127.0.0.1 and ::1; with --ca, "qecho CA"; --client needs one]' -r
complete -c qecho -n "__fish_qecho_using_subcommand gencert" -l valid-for -d 'How long the certificate stays valid, from now (humantime: 365days, 90days, 12h); with --sign-with, no longer than the CA itself, since verifiers refuse a chain whose CA expired' -r
complete -c qecho -n "__fish_qecho_using_subcommand gencert" -l sign-with -d 'Sign the certificate with the CA in CA_DIR (its ca.pem and ca-key.pem, as --ca writes them) instead of by itself' -r -f -a "(__fish_complete_directories)"
complete -c qecho -n "__fish_qecho_using_subcommand gencert" -l log-format -d 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)' -r -f -a "text\t'For people: one line per event, coloured on a terminal'
json\t'For log shippers: one JSON object per line, with timestamp, level, message and fields'"
complete -c qecho -n "__fish_qecho_using_subcommand gencert" -s f -l force -d 'Overwrite the certificate and key files if they exist'
complete -c qecho -n "__fish_qecho_using_subcommand gencert" -l ca -d 'Make a certificate authority instead: ca.pem and ca-key.pem, to issue server and client certificates with --sign-with, and for `qecho send --ca` and `qecho serve --client-ca` to trust'
complete -c qecho -n "__fish_qecho_using_subcommand gencert" -l client -d 'Make a client certificate (for client authentication, `qecho send --cert`) instead of a server certificate'
complete -c qecho -n "__fish_qecho_using_subcommand gencert" -s v -l verbose -d 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand gencert" -s q -l quiet -d 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand gencert" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qecho -n "__fish_qecho_using_subcommand gencert" -s V -l version -d 'Print version'
complete -c qecho -n "__fish_qecho_using_subcommand probe" -s f -l file -d 'Read more targets from FILE, one per line (`-` for standard input); blank lines and lines starting with # are skipped' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand probe" -l alpn -d 'Application protocol (ALPN) to offer; repeat for several, in order of preference: h3 for HTTP/3 servers, doq for DNS over QUIC, qecho for `qecho serve`' -r
complete -c qecho -n "__fish_qecho_using_subcommand probe" -l ca -d 'Trust this certificate (PEM): a CA, or the server\'s own self-signed certificate such as `qecho gencert` writes. Without it, the system\'s trusted roots are used' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand probe" -l pin -d 'Trust exactly the server certificate with this SHA-256 fingerprint, as `qecho serve` and `qecho gencert` print it, whatever its issuer, names or dates; any other is refused, and the error shows the fingerprint it had. With --ca, the certificate must also verify against it' -r
complete -c qecho -n "__fish_qecho_using_subcommand probe" -l cert -d 'Client certificate (PEM) to present when the server asks for one (mutual TLS, `qecho serve --client-ca`), such as `qecho gencert --sign-with CA_DIR --client` writes' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand probe" -l key -d 'Private key of --cert (PEM)' -r -F
complete -c qecho -n "__fish_qecho_using_subcommand probe" -l parallel -d 'How many targets to probe at once' -r
complete -c qecho -n "__fish_qecho_using_subcommand probe" -l timeout -d 'How long each target may take, handshakes, resumption and MTU search together (humantime)' -r
complete -c qecho -n "__fish_qecho_using_subcommand probe" -l max-mtu -d 'The largest UDP payload path MTU discovery tries, in bytes (1200 to 9000): the probe reports the largest that got through' -r
complete -c qecho -n "__fish_qecho_using_subcommand probe" -l log-format -d 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)' -r -f -a "text\t'For people: one line per event, coloured on a terminal'
json\t'For log shippers: one JSON object per line, with timestamp, level, message and fields'"
complete -c qecho -n "__fish_qecho_using_subcommand probe" -s k -l insecure -d 'Do not verify the server\'s certificate at all (like curl -k). Anyone on the path can then impersonate the server; a warning says so'
complete -c qecho -n "__fish_qecho_using_subcommand probe" -l long -d 'One block per target even for several targets (instead of one line each)'
complete -c qecho -n "__fish_qecho_using_subcommand probe" -l json -d 'One JSON object per target, one per line, in the order given'
complete -c qecho -n "__fish_qecho_using_subcommand probe" -l csv -d 'Comma-separated values: a header line, then one line per target'
complete -c qecho -n "__fish_qecho_using_subcommand probe" -s 4 -d 'Use IPv4 addresses only'
complete -c qecho -n "__fish_qecho_using_subcommand probe" -s 6 -d 'Use IPv6 addresses only'
complete -c qecho -n "__fish_qecho_using_subcommand probe" -s v -l verbose -d 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand probe" -s q -l quiet -d 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand probe" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qecho -n "__fish_qecho_using_subcommand probe" -s V -l version -d 'Print version'
complete -c qecho -n "__fish_qecho_using_subcommand relay" -s l -l listen -d 'Address to listen on for clients (IP:PORT; port 0 picks a free port, which the "listening on" line reports)' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -s t -l to -d 'The server to relay to (HOST:PORT), such as `qecho serve` on its default address' -r -f -a "(__fish_print_hostnames)"
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l seed -d 'Seed for the random choices (loss, jitter, duplication, corruption), so that a run can be repeated: the same seed makes the same choices for the same sequence of datagrams [default: a fresh seed, printed on the listening line]' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l loss -d 'Drop each datagram with this probability (30%, 0.5%, or the fraction 0.3), independently' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l handshake-loss -d 'Drop each datagram that carries a QUIC long header (Initial, 0-RTT, Handshake, Retry) with this probability, and nothing else: the QUIC interop runner\'s handshakeloss case' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l delay -d 'Hold each datagram this long (humantime: 20ms, 750ms), as a long path does: the round trip grows by twice this' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l jitter -d 'Vary each datagram\'s delay at random by up to this much either way (uniformly, never below zero, as netem does): datagrams overtake each other, as on a real path whose jitter exceeds the gap between packets' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l duplicate -d 'Send each datagram twice with this probability' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l corrupt -d 'Flip one random bit of each datagram with this probability' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l rate -d 'A bottleneck of this rate (500kbit, 50Mbit, 1Gbit): datagrams leave no faster, and wait in a queue of --queue bytes; past it they are dropped (tail drop), and counted' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l queue -d 'The bottleneck\'s queue, in bytes [default: what --rate carries in 50 ms, at least 64 KiB]' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l mtu -d 'Drop every datagram whose IP packet (the UDP payload plus 28 bytes of IPv4 and UDP header, or 48 with IPv6) is larger than this: a path MTU black hole' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l outage -d 'Let nothing through for this long, once every --outage-every (humantime): a blackhole, as when a link goes down or a phone changes cells. The first outage starts one period after the relay starts' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l outage-every -d 'The period of --outage (humantime)' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l pass-first -d 'Pass only the first N datagrams, then drop all the rest: with --up-pass-first 1, a server hears a client\'s first flight only, and can be seen to respect its anti-amplification limit' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l rebind-every -d 'Move each client\'s upstream socket to a new port this often (humantime), as a NAT rebinding does: the server sees the same connection arrive from a new address' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l idle-timeout -d 'Forget a client\'s mapping after this long without a datagram from it (humantime); RFC 4787 asks NATs for at least 2 minutes' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l up-loss -d '--loss from client to server only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l down-loss -d '--loss from server to client only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l up-handshake-loss -d '--handshake-loss from client to server only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l down-handshake-loss -d '--handshake-loss from server to client only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l up-delay -d '--delay from client to server only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l down-delay -d '--delay from server to client only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l up-jitter -d '--jitter from client to server only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l down-jitter -d '--jitter from server to client only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l up-duplicate -d '--duplicate from client to server only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l down-duplicate -d '--duplicate from server to client only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l up-corrupt -d '--corrupt from client to server only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l down-corrupt -d '--corrupt from server to client only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l up-rate -d '--rate from client to server only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l down-rate -d '--rate from server to client only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l up-queue -d '--queue from client to server only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l down-queue -d '--queue from server to client only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l up-mtu -d '--mtu from client to server only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l down-mtu -d '--mtu from server to client only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l up-outage -d '--outage from client to server only (with --outage-every)' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l down-outage -d '--outage from server to client only (with --outage-every)' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l up-pass-first -d '--pass-first from client to server only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l down-pass-first -d '--pass-first from server to client only' -r
complete -c qecho -n "__fish_qecho_using_subcommand relay" -l log-format -d 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)' -r -f -a "text\t'For people: one line per event, coloured on a terminal'
json\t'For log shippers: one JSON object per line, with timestamp, level, message and fields'"
complete -c qecho -n "__fish_qecho_using_subcommand relay" -s v -l verbose -d 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand relay" -s q -l quiet -d 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand relay" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qecho -n "__fish_qecho_using_subcommand relay" -s V -l version -d 'Print version'
complete -c qecho -n "__fish_qecho_using_subcommand completions" -l log-format -d 'Format of the log lines on standard error: text, or json (one object per line, with the fields as fields)' -r -f -a "text\t'For people: one line per event, coloured on a terminal'
json\t'For log shippers: one JSON object per line, with timestamp, level, message and fields'"
complete -c qecho -n "__fish_qecho_using_subcommand completions" -s v -l verbose -d 'Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand completions" -s q -l quiet -d 'Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides'
complete -c qecho -n "__fish_qecho_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qecho -n "__fish_qecho_using_subcommand completions" -s V -l version -d 'Print version'
complete -c qecho -n "__fish_qecho_using_subcommand help; and not __fish_seen_subcommand_from generate-docs serve send gencert probe relay completions help" -f -a "generate-docs" -d 'Write the man pages and completion scripts into man/ and completions/ (for maintainers)'
complete -c qecho -n "__fish_qecho_using_subcommand help; and not __fish_seen_subcommand_from generate-docs serve send gencert probe relay completions help" -f -a "serve" -d 'Run an echo server: every stream a client opens is echoed back byte for byte'
complete -c qecho -n "__fish_qecho_using_subcommand help; and not __fish_seen_subcommand_from generate-docs serve send gencert probe relay completions help" -f -a "send" -d 'Connect to an echo server, send a message every interval and check each echo'
complete -c qecho -n "__fish_qecho_using_subcommand help; and not __fish_seen_subcommand_from generate-docs serve send gencert probe relay completions help" -f -a "gencert" -d 'Write a certificate and private key (PEM, ECDSA P-256): self-signed, a CA, or signed by it'
complete -c qecho -n "__fish_qecho_using_subcommand help; and not __fish_seen_subcommand_from generate-docs serve send gencert probe relay completions help" -f -a "probe" -d 'Check whether QUIC works to any QUIC server, and report what that server offers'
complete -c qecho -n "__fish_qecho_using_subcommand help; and not __fish_seen_subcommand_from generate-docs serve send gencert probe relay completions help" -f -a "relay" -d 'Relay UDP between clients and a server, making the path as bad as asked: loss, delay, jitter, reordering, duplication, corruption, a rate limit, a small MTU, outages, NAT rebinding'
complete -c qecho -n "__fish_qecho_using_subcommand help; and not __fish_seen_subcommand_from generate-docs serve send gencert probe relay completions help" -f -a "completions" -d 'Print the shell completion script for SHELL to standard output'
complete -c qecho -n "__fish_qecho_using_subcommand help; and not __fish_seen_subcommand_from generate-docs serve send gencert probe relay completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
