// Package retryhttp is an http.RoundTripper that retries with retrysql's
// loop: its strategies, its retry budget and circuit breaker (one of each
// per host), its hooks and its ambiguity rules.
//
//	rt, err := retryhttp.NewTransport(http.DefaultTransport)
//	if err != nil {
//		return err
//	}
//	client := &http.Client{Transport: rt, Timeout: 10 * time.Second}
//
// What is retried:
//
//   - A connection that failed before anything of the request was
//     written (a refused or failed dial): any request.
//   - A connection lost after the request may have been written (a reset,
//     an EOF before the response, an attempt that outlasted
//     retrysql.WithAttemptTimeout): only a request that is safe to send
//     twice. For any other, the error matches retrysql.ErrAmbiguous and
//     the request is never sent again.
//   - A response 429 Too Many Requests, 502 Bad Gateway, 503 Service
//     Unavailable or 504 Gateway Timeout: only a request that is safe to
//     send twice, after at least what its Retry-After header asks
//     (seconds or an HTTP date; a wait longer than
//     retrysql.WithMaxRetryAfter, 30s by default, is not made). Any
//     other status is the answer.
//
// A request is safe to send twice when its method is idempotent (GET,
// HEAD, OPTIONS, TRACE, PUT, DELETE), when it carries an Idempotency-Key
// (or X-Idempotency-Key) header, as net/http itself reads it: present in
// Header, even with a nil value, or when it was declared so: its context
// made by retrysql.Idempotent, or the Transport made with
// retrysql.WithIdempotent. Its body must be rewindable (nil,
// http.NoBody, or Request.GetBody set, as http.NewRequest sets it for
// in-memory bodies): a request whose body cannot be sent again makes one
// attempt, whatever happens to it.
//
// What the caller gets: the response of the last attempt when there was
// one (a 503, say, when retrying stopped on it: attempts exhausted, the
// budget empty, a Retry-After too long, the breaker open), with a nil
// error, as any RoundTripper returns a response; otherwise the error of
// the last attempt, a *retrysql.Error when retrying stopped for a reason
// of its own (errors.Is reaches retrysql.ErrAmbiguous,
// retrysql.ErrBudgetExhausted, retrysql.ErrCircuitOpen,
// retrysql.ErrAttemptTimeout, and the transport's own error). The
// caller's cancellation ends everything at once with the context's
// error. Hooks (retrysql.WithOnRetry, WithOnGiveUp, WithOnComplete,
// WithLogger) say what was retried and why: Event.Err is a *StatusError
// for a status, the transport's error otherwise.
//
// Every response the transport discards (one it retries after) is read
// and closed, so that its connection goes back to the pool: its body is
// read, up to 64 KiB, as soon as it arrives, and is kept in memory until
// the transport knows whether it returns it. net/http itself sends a
// request once more when a reused idle connection turns out closed before
// anything was written, or, for GET, HEAD, OPTIONS and TRACE with a
// rewindable body, on an error reading from a reused one; those tries are
// not counted as attempts.
package retryhttp

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/retrysql/retrysql"
)

// Transport is an http.RoundTripper that retries the requests it sends
// through its base, as the package documentation says. It keeps one
// retrysql.Retrier per host (scheme and host:port of the URL, without
// case): one failing service spends its own retry budget and opens its
// own breaker, never another's. A host's Retrier lives as long as the
// host is in use, and is forgotten once it has been idle for
// IdleHostTimeout. A Transport is safe for concurrent use.
type Transport struct {
	base http.RoundTripper
	opts []retrysql.Option

	mu      sync.RWMutex
	hosts   map[hostKey]*host
	sweeper *time.Timer // armed while hosts is not empty
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport that sends requests through base
// (http.DefaultTransport if nil) and retries them with the options of a
// Retrier (those retrysql.NewRetrier accepts), given to every host's
// Retrier: strategies, attempts, hooks, retrysql.WithAttemptTimeout,
// retrysql.WithMaxRetryAfter, retrysql.WithRetryIf for errors of base
// that it does not know. A budget or breaker given with WithBudget or
// WithBreaker is shared by all hosts; by default each host has its own,
// as NewRetrier makes them. retrysql.WithIdempotent declares every
// request safe to send twice, POSTs included.
//
// It returns an error if an option is invalid, or if base is a Transport
// of this package (its attempts would multiply).
func NewTransport(base http.RoundTripper, opts ...retrysql.Option) (*Transport, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	if _, ok := base.(*Transport); ok {
		return nil, errors.New("retryhttp: NewTransport over a retryhttp Transport: each attempt of one would be retried by the other")
	}
	if _, err := retrysql.NewRetrier(opts...); err != nil {
		return nil, err
	}
	return &Transport{base: base, opts: append([]retrysql.Option(nil), opts...), hosts: make(map[hostKey]*host)}, nil
}

// RoundTrip implements http.RoundTripper: it sends req through the base
// transport, again as the package documentation says.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeBody(req)
		return nil, errors.New("retryhttp: request without a URL")
	}
	h, err := t.acquire(req.URL)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	defer h.release()
	rt := exchange{base: t.base, req: req, safe: replayable(req) || retrysql.IsIdempotent(req.Context()) || h.r.AllIdempotent()}
	ctx := req.Context()
	if rt.safe {
		ctx = retrysql.Idempotent(ctx)
	}
	if !rewindable(req) {
		ctx = retrysql.NoRetry(ctx)
	}
	resp, err := retrysql.DoValue(ctx, h.r, rt.attempt)
	if !rt.sent {
		closeBody(req)
	}
	if held := rt.held; held != nil {
		if req.Context().Err() != nil {
			// The caller gave up: no answer is wanted.
			discard(held)
			return nil, err
		}
		return held, nil
	}
	return resp, err
}

// CloseIdleConnections closes the idle connections of the base
// transport, if it can (http.Client.CloseIdleConnections calls it).
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// replayable reports whether req is safe to send twice: an idempotent
// method, or an idempotency key.
func replayable(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	if _, ok := req.Header["Idempotency-Key"]; ok {
		return true
	}
	_, ok := req.Header["X-Idempotency-Key"]
	return ok
}

// rewindable reports whether req's body can be sent again.
func rewindable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
