//! Many streams on one connection and several clients at once, every byte checked, with a small
//! s2n-quic client inside the tests (`qecho send` opens one stream at a time).

mod common;

use common::peer;
use common::{DEADLINE, Server};
use std::time::Duration;

fn server_with_cert() -> (Server, String, tempfile::TempDir) {
    let (cert, key) = peer::self_signed();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), &key).unwrap();
    let server = Server::start(&[
        "--cert",
        dir.path().join("cert.pem").to_str().unwrap(),
        "--key",
        dir.path().join("key.pem").to_str().unwrap(),
    ]);
    (server, cert, dir)
}

#[test]
fn many_concurrent_streams_from_several_clients() {
    const CLIENTS: u64 = 4;
    const STREAMS: u64 = 40;
    const SIZE: usize = 64 * 1024;
    let (server, cert, _dir) = server_with_cert();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut clients = tokio::task::JoinSet::new();
        for client_no in 0..CLIENTS {
            let cert = cert.clone();
            let addr = server.addr;
            clients.spawn(async move {
                let client = peer::client(&cert);
                let connection = peer::connect(&client, addr).await;
                let handle = connection.handle();
                let mut streams = tokio::task::JoinSet::new();
                for stream_no in 0..STREAMS {
                    let mut handle = handle.clone();
                    // Sizes vary, so streams finish at different times and interleave.
                    let data = peer::payload(
                        client_no * 1000 + stream_no,
                        SIZE + stream_no as usize * 997,
                    );
                    streams.spawn(async move { peer::echo_stream(&mut handle, data).await });
                }
                while let Some(done) = streams.join_next().await {
                    done.expect("stream task");
                }
                connection
            });
        }
        let all = async {
            while let Some(done) = clients.join_next().await {
                done.expect("client task");
            }
        };
        tokio::time::timeout(DEADLINE, all)
            .await
            .expect("all echoes within the deadline");
    });
    drop(runtime);
    let closed = server.log.wait_for("on 40 stream(s)", DEADLINE);
    assert!(
        closed.is_some(),
        "the server counts the streams:\n{}",
        server.log.text()
    );
}

#[test]
fn a_client_that_stops_reading_gets_backpressure_not_a_growing_buffer() {
    let (mut server, cert, _dir) = server_with_cert();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let written = runtime.block_on(async {
        let client = peer::client(&cert);
        let connection = peer::connect(&client, server.addr).await;
        let mut handle = connection.handle();
        let stream = handle.open_bidirectional_stream().await.unwrap();
        let (_receiver, mut sender) = stream.split(); // never read
        let chunk = bytes::Bytes::from(vec![7u8; 64 * 1024]);
        let mut written = 0u64;
        // Write until the send blocks for a while: flow control has stopped us. Bounded at 1 GiB.
        while written < (1 << 30) {
            match tokio::time::timeout(Duration::from_millis(500), sender.send(chunk.clone())).await
            {
                Ok(result) => {
                    result.unwrap();
                    written += chunk.len() as u64;
                }
                Err(_) => break,
            }
        }
        written
    });
    // The echo path holds at most a few flow-control windows and send buffers (megabytes), not
    // everything that was offered.
    assert!(
        written < 64 << 20,
        "the client could write {written} bytes without reading"
    );
    assert!(written > 0);
    assert!(server.is_running());
}
