package retryhttp

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

const (
	// holdLimit is how much of the body of a response retried after is
	// read at once, so that its connection goes back to the pool.
	holdLimit = 64 << 10
	// drainLimit is how much more of it is read before it is closed when
	// discarded: beyond that, closing (and losing the connection) is
	// cheaper than reading.
	drainLimit = 256 << 10
)

// hold reads the body of resp, a response the transport retries after
// and may return if it is the last: up to holdLimit, after which the
// original body is closed and resp.Body serves what was read (and the
// read error, if the body broke). A longer body is left open behind what
// was read; hold reports whether the original body is closed.
func hold(resp *http.Response) (closed bool) {
	buf, err := io.ReadAll(io.LimitReader(resp.Body, holdLimit+1))
	if err == nil && len(buf) > holdLimit {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), resp.Body), resp.Body}
		return false
	}
	resp.Body.Close()
	var r io.Reader = bytes.NewReader(buf)
	if err != nil {
		r = io.MultiReader(r, errReader{err})
	}
	resp.Body = io.NopCloser(r)
	return true
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// discard reads what is left of a response's body, up to drainLimit, and
// closes it.
func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	resp.Body.Close()
}

// releasing returns body, which cancel releases the context of once it is
// closed: a response body read after its attempt (bounded by
// WithAttemptTimeout) under the caller's context. A body that can be
// written (a 101 Switching Protocols' connection) stays writable.
func releasing(body io.ReadCloser, cancel context.CancelFunc) io.ReadCloser {
	if rw, ok := body.(io.ReadWriteCloser); ok {
		return &releasingRW{rw, cancel}
	}
	return &releasingBody{body, cancel}
}

type releasingBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

type releasingRW struct {
	io.ReadWriteCloser
	cancel context.CancelFunc
}

func (b *releasingRW) Close() error {
	err := b.ReadWriteCloser.Close()
	b.cancel()
	return err
}
