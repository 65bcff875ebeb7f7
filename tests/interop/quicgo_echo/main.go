// The classic quic-go echo example (example/echo/echo.go), split into its two halves so that each
// can face qecho:
//
//	quicgo_echo server ADDR ALPN [ed25519] echo the first stream of each connection, logging the
//	                                       addresses, with a self-signed RSA-1024 certificate
//	                                       (or an Ed25519 one)
//	quicgo_echo client ADDR ALPN MSG N     skip verification, send MSG every 100 ms on one stream
//	                                       and read each echo back, N times
//
// Built against quic-go 0.29 as Debian 12 packages it (golang-github-lucas-clemente-quic-go-dev):
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o quicgo_echo .
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"os"
	"strconv"
	"time"

	"github.com/lucas-clemente/quic-go"
)

func main() {
	if len(os.Args) < 4 {
		log.Fatal("usage: quicgo_echo server ADDR ALPN | client ADDR ALPN MSG N [resume]")
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = echoServer(os.Args[2], os.Args[3], len(os.Args) > 4 && os.Args[4] == "ed25519")
	case "client":
		n, _ := strconv.Atoi(os.Args[5])
		rounds := 1
		if len(os.Args) > 6 && os.Args[6] == "resume" {
			rounds = 2
		}
		err = clientMain(os.Args[2], os.Args[3], os.Args[4], n, rounds)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func echoServer(addr, alpn string, ed bool) error {
	tlsConf := generateTLSConfig(alpn)
	if ed {
		tlsConf = ed25519TLSConfig(alpn)
	}
	listener, err := quic.ListenAddr(addr, tlsConf, nil)
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	for {
		conn, err := listener.Accept(context.Background())
		if err != nil {
			return err
		}
		fmt.Printf("connection local %s remote %s\n", conn.LocalAddr(), conn.RemoteAddr())
		go func() {
			stream, err := conn.AcceptStream(context.Background())
			if err != nil {
				fmt.Printf("accept stream: %v\n", err)
				return
			}
			n, err := io.Copy(stream, stream)
			fmt.Printf("echoed %d bytes (%v)\n", n, err)
		}()
	}
}

func clientMain(addr, alpn, message string, count, rounds int) error {
	tlsConf := &tls.Config{
		InsecureSkipVerify: true,
		NextProtos:         []string{alpn},
		// Keeps the server's session tickets, so that a second round resumes.
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
	for round := 0; round < rounds; round++ {
		if err := echoRound(addr, tlsConf, message, count); err != nil {
			return err
		}
	}
	return nil
}

func echoRound(addr string, tlsConf *tls.Config, message string, count int) error {
	conn, err := quic.DialAddr(addr, tlsConf, nil)
	if err != nil {
		return err
	}
	fmt.Printf("connected local %s remote %s resumed %v\n", conn.LocalAddr(), conn.RemoteAddr(),
		conn.ConnectionState().TLS.DidResume)
	stream, err := conn.OpenStreamSync(context.Background())
	if err != nil {
		return err
	}
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	buf := make([]byte, len(message))
	for i := 0; i < count; i++ {
		<-ticker.C
		if _, err := stream.Write([]byte(message)); err != nil {
			return err
		}
		if _, err := io.ReadFull(stream, buf); err != nil {
			return err
		}
		if !bytes.Equal(buf, []byte(message)) {
			return fmt.Errorf("echo %d: sent %q, got %q", i, message, buf)
		}
		fmt.Printf("echo %d ok\n", i)
	}
	stream.Close()
	return conn.CloseWithError(0, "")
}

// A bare-bones TLS config, as the example makes it: RSA-1024, no names, zero validity dates.
func generateTLSConfig(alpn string) *tls.Config {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	template := x509.Certificate{SerialNumber: big.NewInt(1)}
	certDER, err := x509.CreateCertificate(rand.Reader, &template, &template, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	tlsCert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		panic(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{tlsCert},
		NextProtos:   []string{alpn},
	}
}

// The same with an Ed25519 key, which Go's TLS signs with and s2n-tls cannot verify.
func ed25519TLSConfig(alpn string) *tls.Config {
	public, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	template := x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
	}
	certDER, err := x509.CreateCertificate(rand.Reader, &template, &template, public, key)
	if err != nil {
		panic(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{certDER}, PrivateKey: key}},
		NextProtos:   []string{alpn},
	}
}
