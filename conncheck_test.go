package retrysql

import (
	"net"
	"testing"
	"time"
)

// loopback returns both ends of a TCP connection on loopback.
func loopback(t testing.TB) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestPeekerSeesWhatWaits(t *testing.T) {
	c, s := loopback(t)
	p := newPeeker(c)
	if closed, pending := p.peek(); closed || pending {
		t.Fatalf("idle: closed %v, pending %v", closed, pending)
	}
	s.Write([]byte("E")) // the server spoke (a FATAL, say)
	deadline := time.Now().Add(5 * time.Second)
	for _, pending := p.peek(); !pending && time.Now().Before(deadline); _, pending = p.peek() {
	}
	if closed, pending := p.peek(); closed || !pending {
		t.Fatalf("after a write: closed %v, pending %v", closed, pending)
	}
	buf := make([]byte, 1)
	if n, err := c.Read(buf); n != 1 || err != nil || buf[0] != 'E' {
		t.Fatalf("the peek consumed the byte: %d %v %q", n, err, buf)
	}
	s.Close()
	for closed, _ := p.peek(); !closed && time.Now().Before(deadline); closed, _ = p.peek() {
	}
	if closed, _ := p.peek(); !closed {
		t.Fatal("the hang-up was not seen")
	}
}

// BenchmarkIdleCheck is the cost of looking at an idle pgx connection's
// socket when database/sql hands it out again.
func BenchmarkIdleCheck(b *testing.B) {
	c, _ := loopback(b)
	p := newPeeker(c)
	b.ReportAllocs()
	for b.Loop() {
		if closed, pending := p.peek(); closed || pending {
			b.Fatal("not idle")
		}
	}
}

// TestPeekerDoesNotWaitForAReader: a goroutine blocked reading the socket
// (pgx's background reader) holds its read lock; the peek must not wait
// for it.
func TestPeekerDoesNotWaitForAReader(t *testing.T) {
	c, s := loopback(t)
	p := newPeeker(c)
	reading := make(chan struct{})
	go func() {
		close(reading)
		buf := make([]byte, 1)
		c.Read(buf) // blocks until the server writes
	}()
	<-reading
	time.Sleep(20 * time.Millisecond) // let it block in Read
	done := make(chan struct{})
	go func() {
		p.peek()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the peek waited for the blocked reader")
	}
	s.Write([]byte("x")) // let the reader go
}
