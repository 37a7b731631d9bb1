package retryhttp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/retryhttp"
	"github.com/retrysql/retrysql/strategy"
)

// fast keeps the retries' own delays at a millisecond.
var fast = []retrysql.Option{
	retrysql.WithStrategy(classify.Transient, strategy.Fixed{Interval: time.Millisecond}),
	retrysql.WithStrategy(classify.ConnLost, strategy.Fixed{Interval: time.Millisecond}),
	retrysql.WithConnectStrategy(strategy.Fixed{Interval: time.Millisecond}),
}

// server is an httptest server that counts the requests it reads and the
// connections it accepts, and answers each request as answer says (n
// counts requests from 1).
type server struct {
	*httptest.Server
	requests, conns atomic.Int32
	mu              sync.Mutex
	bodies          []string
}

func newServer(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.requests.Add(1))
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		answer(w, r, n)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *server) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

// reset ends the connection with a TCP reset, before any answer: the
// request may have been processed, the response is lost.
func reset(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// newClient returns a client whose transport is a retryhttp Transport
// over a fresh http.Transport (dial, if set, replaces its dialer), with
// fast and opts.
func newClient(t *testing.T, dial func(ctx context.Context, network, addr string) (net.Conn, error), opts ...retrysql.Option) (*http.Client, *retryhttp.Transport) {
	t.Helper()
	base := &http.Transport{DialContext: dial}
	if dial == nil {
		base.DialContext = (&net.Dialer{}).DialContext
	}
	tr, err := retryhttp.NewTransport(base, append(append([]retrysql.Option{}, fast...), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, tr
}

// refuseFirst is a dialer whose first n dials are refused.
func refuseFirst(n int32) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var dials atomic.Int32
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) <= n {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
}

// events records the retries a Retrier reports.
type events struct {
	mu  sync.Mutex
	all []retrysql.Event
}

func (e *events) option() retrysql.Option {
	return retrysql.WithOnRetry(func(ev retrysql.Event) { e.mu.Lock(); e.all = append(e.all, ev); e.mu.Unlock() })
}

func (e *events) list() []retrysql.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]retrysql.Event(nil), e.all...)
}

func statusOf(ev retrysql.Event) *retryhttp.StatusError {
	var se *retryhttp.StatusError
	errors.As(ev.Err, &se)
	return se
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return string(b)
}
