package retryhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/retryhttp"
)

// Regression tests of the transport's bugs that an audit found on
// 2026-12-08; each failed on the code before its fix.

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestDeclaredIdempotentPostRetriesStatus: a POST declared safe to send
// twice, by the Transport's retrysql.WithIdempotent or by its context
// (retrysql.Idempotent), is retried after a 503 as an idempotent method
// is; without either it is sent once and the 503 returned.
func TestDeclaredIdempotentPostRetriesStatus(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	for _, tc := range []struct {
		name   string
		opts   []retrysql.Option
		ctx    func(context.Context) context.Context
		status int
		sent   int32
	}{
		{"WithIdempotent", []retrysql.Option{retrysql.WithIdempotent()}, nil, http.StatusCreated, 2},
		{"an idempotent context", nil, retrysql.Idempotent, http.StatusCreated, 2},
		{"neither", nil, nil, http.StatusServiceUnavailable, 1},
	} {
		s.requests.Store(0)
		client, _ := newClient(t, nil, tc.opts...)
		ctx := t.Context()
		if tc.ctx != nil {
			ctx = tc.ctx(ctx)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, strings.NewReader("x"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || s.requests.Load() != tc.sent {
			t.Errorf("%s: %s after %d requests, want %d after %d", tc.name, resp.Status, s.requests.Load(), tc.status, tc.sent)
		}
	}
}

// TestNilResponseBody: a base RoundTripper that returns a response without
// a Body (as many fakes do, and as net/http's Client tolerates: it
// substitutes http.NoBody) does not make the Transport panic when the
// status is retried.
func TestNilResponseBody(t *testing.T) {
	var n atomic.Int32
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if n.Add(1) == 1 {
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{}, Request: r}, nil
		}
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	tr, err := retryhttp.NewTransport(base, fast...)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://retryhttp.invalid/", nil)
	var resp *http.Response
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		resp, err = tr.RoundTrip(req)
	}()
	if err != nil {
		t.Fatalf("RoundTrip over a base answering 503 with a nil Body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("got %s", resp.Status)
	}
}

// TestPostNotResentAfterReadUnreachable: a POST without a key whose
// request was written, and whose connection then failed while reading
// the answer with "no route to host" (Linux reports EHOSTUNREACH on an
// established socket once keepalive or retransmission probes meet an ICMP
// unreachable), may have been processed: it is not sent again, and the
// error matches ErrAmbiguous.
func TestPostNotResentAfterReadUnreachable(t *testing.T) {
	var n atomic.Int32
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		n.Add(1)
		if r.Body != nil {
			io.Copy(io.Discard, r.Body) // the request is written
			r.Body.Close()
		}
		return nil, &net.OpError{Op: "read", Net: "tcp",
			Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 80},
			Err:  os.NewSyscallError("read", syscall.EHOSTUNREACH)}
	})
	tr, err := retryhttp.NewTransport(base, fast...)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://retryhttp.invalid/orders", strings.NewReader("order 10"))
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("POST without a key sent %d times after a read failure (err %v)", got, err)
	}
	if !errors.Is(err, retrysql.ErrAmbiguous) {
		t.Fatalf("got %v, want ErrAmbiguous", err)
	}
}
