package classify

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"
)

// Network classifies the errors that come from the caller's context, from
// database/sql's driver contract and from the network, and reports whether
// it recognised err:
//
//   - context.Canceled and context.DeadlineExceeded: Permanent. The caller
//     asked to stop; retrying would defy it.
//   - driver.ErrBadConn: ConnLost, Unsent. A driver returns it only when the
//     server cannot have performed the operation.
//   - a failed dial (a *net.OpError with Op "dial", whatever its cause)
//     or a refused connection (ECONNREFUSED): ConnLost, Unsent. No
//     connection was made, so nothing was sent.
//   - a reset or aborted connection, a broken pipe, an unreachable host or
//     network on a connection already made (Linux reports EHOSTUNREACH and
//     ENETUNREACH on reads and writes once retransmissions meet an ICMP
//     error), io.EOF, io.ErrUnexpectedEOF, net.ErrClosed, and network
//     timeouts: ConnLost. The request may have reached the server.
//
// Network sees through errors wrapped with %w and errors.Join. The context
// rule wins over the others, so a read that failed because the caller's
// deadline passed is Permanent, not a lost connection.
func Network(err error) (Result, bool) {
	if err == nil {
		return Result{}, false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Result{Class: Permanent}, true
	}
	if errors.Is(err, driver.ErrBadConn) {
		return Result{Class: ConnLost, Unsent: true}, true
	}
	if isDial(err) || errors.Is(err, syscall.ECONNREFUSED) {
		return Result{Class: ConnLost, Unsent: true}, true
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) {
		return Result{Class: ConnLost}, true
	}
	if ne, ok := find[net.Error](err); ok && ne.Timeout() {
		return Result{Class: ConnLost}, true
	}
	return Result{}, false
}

// isDial reports whether err comes from establishing a connection.
func isDial(err error) bool {
	op, ok := find[*net.OpError](err)
	return ok && op.Op == "dial"
}

// NotSent reports whether err says it happened before anything of the
// request was written: driver.ErrBadConn, or an error with pgx's
// SafeToRetry() behaviour (a statement on a closed connection, a context
// that was already done before sending, a write of zero bytes). When it
// returns false, the request may have reached the server.
func NotSent(err error) bool {
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	s, ok := find[interface{ SafeToRetry() bool }](err)
	return ok && s.SafeToRetry()
}
