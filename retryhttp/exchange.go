package retryhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
)

// exchange is one RoundTrip: the request, its attempts, and the response
// of the last one when it is being retried after.
type exchange struct {
	base http.RoundTripper
	req  *http.Request
	safe bool // safe to send twice (replayable)
	n    int  // attempts made
	// sent: req.Body was handed to the base transport, which closes it.
	sent bool
	// held is the response of the last attempt, read and kept when its
	// status is retried after: what RoundTrip returns if it is the last.
	held *http.Response
}

// errNoAnswer is the error of an attempt that outlasted its bound
// (retrysql.WithAttemptTimeout) before the response's headers arrived.
var errNoAnswer = fmt.Errorf("retryhttp: no response before the attempt's deadline: %w", context.DeadlineExceeded)

// attempt sends the request once with ctx, the attempt's context: the
// call's, or one that ends at the attempt's bound. The bound covers the
// wait for the response's headers; the body of a response returned to
// the caller is read under the caller's context alone, as long as the
// caller reads it.
func (x *exchange) attempt(ctx context.Context) (*http.Response, error) {
	x.n++
	req := x.req
	if x.n > 1 {
		body, err := x.rewind()
		if err != nil {
			return nil, retrysql.Permanent(err)
		}
		req = req.WithContext(req.Context())
		req.Body = body
	}
	if x.held != nil {
		discard(x.held)
		x.held = nil
	}
	var (
		cancel context.CancelFunc
		stop   func() bool
	)
	if ctx.Done() != x.req.Context().Done() {
		// The attempt is bounded: the request runs under a context of the
		// caller's that the bound ends, until the headers are in.
		var rctx context.Context
		rctx, cancel = context.WithCancel(x.req.Context())
		stop = context.AfterFunc(ctx, cancel)
		req = req.WithContext(rctx)
	}
	x.sent = true
	resp, err := x.base.RoundTrip(req)
	if err != nil {
		if cancel != nil {
			stop()
			cancel()
			if ctx.Err() != nil && x.req.Context().Err() == nil {
				err = errNoAnswer // what the transport says is of the cancellation
			}
		}
		return nil, x.failed(err)
	}
	if resp.Body == nil {
		// As http.Client does for a RoundTripper that returns none.
		resp.Body = http.NoBody
	}
	resp.Request = x.req
	if !x.safe || !retried(resp.StatusCode) {
		if cancel != nil {
			if !stop() {
				// The bound passed as the headers came: the body's
				// context is gone with it.
				cancel()
				discard(resp)
				return nil, x.failed(errNoAnswer)
			}
			resp.Body = releasing(resp.Body, cancel)
		}
		return resp, nil
	}
	complete := hold(resp)
	if cancel != nil {
		if complete || !stop() {
			cancel()
		} else {
			resp.Body = releasing(resp.Body, cancel)
		}
	}
	x.held = resp
	return nil, statusError(resp)
}

// rewind returns a new copy of the request's body for another attempt.
func (x *exchange) rewind() (io.ReadCloser, error) {
	if x.req.Body == nil || x.req.Body == http.NoBody {
		return x.req.Body, nil
	}
	b, err := x.req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("retryhttp: rewinding the request body for another attempt: %w", err)
	}
	return b, nil
}

// failed classifies the base transport's error: a connection lost (after
// the request may have been written, unless the error says it was not:
// a failed dial) for what classify.Network knows, the error as it is for
// the rest (the caller's cancellation, TLS, a malformed response: the
// Retrier's classifier and WithRetryIf decide, and by default they are
// not retried).
func (x *exchange) failed(err error) error {
	if errors.Is(err, errNoAnswer) {
		return retrysql.Classified(err, classify.Result{Class: classify.ConnLost})
	}
	if res, ok := classify.Network(err); ok && res.Class == classify.ConnLost {
		return retrysql.Classified(err, res)
	}
	return err
}
