// Package wiretest runs tiny fake PostgreSQL and MySQL servers on loopback
// that answer with the error a test asks for, so that the test gets the
// error value exactly as pgx or go-sql-driver/mysql builds it from the wire:
// the way a client of CockroachDB, TiDB, Vitess or Galera would see it,
// without those servers.
package wiretest

import (
	"net"
	"sync"
	"testing"
)

// When says at which point of the conversation the fake server fails.
type When int

const (
	// OnQuery: the connection is set up, the first statement fails.
	OnQuery When = iota
	// OnConnect: the server refuses the connection during the handshake.
	OnConnect
)

// server accepts connections on loopback until the test ends and serves
// each with handle.
type server struct {
	l    net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	open []net.Conn
}

func start(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("wiretest: %v", err)
	}
	s := &server{l: l}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		s.mu.Lock()
		for _, c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return l.Addr().String()
}
