package classify_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/retrysql/retrysql/classify"
)

// realNetworkErrors provokes each failure on a real loopback socket, so the
// classifier is tested against the values the net package really returns.
func realNetworkErrors(t *testing.T) map[string]error {
	t.Helper()
	errs := map[string]error{}

	// Refused: dial a port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()
	_, errs["refused"] = net.Dial("tcp", closedAddr)

	// Dial with a context already cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var d net.Dialer
	_, errs["dial cancelled"] = d.DialContext(ctx, "tcp", closedAddr)

	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// accept dials the listener, then lets the server side misbehave once
	// the connection is established.
	accept := func(behave func(net.Conn)) net.Conn {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		behave(s)
		return c
	}
	read := func(c net.Conn) error {
		_, err := c.Read(make([]byte, 1))
		return err
	}

	// Reset: the peer closes with SO_LINGER 0, which sends RST.
	c := accept(func(s net.Conn) { s.(*net.TCPConn).SetLinger(0); s.Close() })
	errs["reset"] = read(c)
	c.Close()

	// EOF: the peer closes normally.
	c = accept(func(s net.Conn) { s.Close() })
	errs["eof"] = read(c)
	c.Close()

	// Timeout: a read deadline that has passed.
	c = accept(func(s net.Conn) { t.Cleanup(func() { s.Close() }) })
	c.SetReadDeadline(time.Now().Add(-time.Second))
	errs["timeout"] = read(c)
	// Closed: using a connection after Close.
	c.Close()
	errs["closed"] = read(c)
	return errs
}

func TestNetworkOnRealErrors(t *testing.T) {
	errs := realNetworkErrors(t)
	want := map[string]classify.Result{
		"refused":        {Class: classify.ConnLost, Unsent: true, Connect: true},
		"dial cancelled": {Class: classify.Permanent},
		"reset":          {Class: classify.ConnLost},
		"eof":            {Class: classify.ConnLost},
		"timeout":        {Class: classify.ConnLost},
		"closed":         {Class: classify.ConnLost},
	}
	for name, w := range want {
		err := errs[name]
		if err == nil {
			t.Fatalf("%s: no error was provoked", name)
		}
		for _, e := range []error{err, fmt.Errorf("query: %w", err), errors.Join(errors.New("other"), err)} {
			got := classify.Default.Classify(e)
			if got != w {
				t.Errorf("%s: Classify(%v) = %v, want %v", name, e, got, w)
			}
		}
	}
}

func TestNetworkSignals(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want classify.Result
		ok   bool
	}{
		{"nil", nil, classify.Result{}, false},
		{"unknown", errors.New("syntax error"), classify.Result{}, false},
		{"bad conn", driver.ErrBadConn, classify.Result{Class: classify.ConnLost, Unsent: true}, true},
		{"bad conn wrapped", fmt.Errorf("exec: %w", driver.ErrBadConn), classify.Result{Class: classify.ConnLost, Unsent: true}, true},
		{"canceled", context.Canceled, classify.Result{Class: classify.Permanent}, true},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), classify.Result{Class: classify.Permanent}, true},
		{"deadline beats eof", errors.Join(io.EOF, context.DeadlineExceeded), classify.Result{Class: classify.Permanent}, true},
		{"unexpected eof", io.ErrUnexpectedEOF, classify.Result{Class: classify.ConnLost}, true},
		{"net closed", net.ErrClosed, classify.Result{Class: classify.ConnLost}, true},
	}
	for _, tt := range tests {
		got, ok := classify.Network(tt.err)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: Network(%v) = %v, %v; want %v, %v", tt.name, tt.err, got, ok, tt.want, tt.ok)
		}
	}
	if got := classify.Default.Classify(errors.New("unknown")); got.Class != classify.Permanent {
		t.Errorf("Default classified an unknown error as %v", got)
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[classify.Class]string{
		classify.Permanent: "permanent", classify.Transient: "transient",
		classify.TxAborted: "tx-aborted", classify.ConnLost: "conn-lost", 9: "Class(9)",
	} {
		if c.String() != want {
			t.Errorf("%d: %q, want %q", c, c.String(), want)
		}
	}
	r := classify.Result{Class: classify.ConnLost, Code: "57P01", Unsent: true}
	if r.String() != "conn-lost 57P01 unsent" {
		t.Errorf("Result.String() = %q", r.String())
	}
}
