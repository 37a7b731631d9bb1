package classify_test

import (
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/internal/wiretest"
)

// Regression tests of the classifiers' bugs that an audit found on
// 2026-12-08; each failed on the code before its fix.

// TestUnreachableOnOpenConnectionMayHaveRun: EHOSTUNREACH and ENETUNREACH
// are not only dial errors. On an established TCP connection Linux reports
// them from read or write once retransmission or keepalive probes meet an
// ICMP unreachable (tcp_write_err: sk_err_soft), after the request may
// have been written and run. Such an error is a connection lost, not
// Unsent (a failed dial with them still is).
func TestUnreachableOnOpenConnectionMayHaveRun(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EHOSTUNREACH, syscall.ENETUNREACH} {
		for _, op := range []string{"read", "write"} {
			err := &net.OpError{Op: op, Net: "tcp",
				Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5432},
				Err:  os.NewSyscallError(op, errno)}
			got := classify.Default.Classify(err)
			if got.Class != classify.ConnLost || got.Unsent {
				t.Errorf("Classify(%v) = %v; want conn-lost, not unsent (the request may have reached the server)", err, got)
			}
			if res, _ := classify.Network(err); res.Unsent {
				t.Errorf("Network(%v) = %v; want not unsent", err, res)
			}
			// As pgx reports a failed read: its error says SafeToRetry false.
			pgxErr := &notSafeErr{err}
			if got := classify.Default.Classify(pgxErr); got.Unsent {
				t.Errorf("Classify(%v), SafeToRetry false, = %v; want not unsent", pgxErr, got)
			}
		}
		dial := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
		if got := classify.Default.Classify(dial); got.Class != classify.ConnLost || !got.Unsent {
			t.Errorf("Classify(%v) = %v; want conn-lost, unsent (nothing was sent)", dial, got)
		}
	}
}

// TestProxy08001AtConnectIsRetried: 08001
// (sqlclient_unable_to_establish_sqlconnection), which proxies and poolers
// answer when they cannot reach the server, is a connect error to retry
// with 53300 and 57P03, as the research on error codes lists it; it was
// classified permanent.
func TestProxy08001AtConnectIsRetried(t *testing.T) {
	err := pgError(t, wiretest.PGError{When: wiretest.OnConnect, Severity: "FATAL", Code: "08001", Message: "could not establish connection to the server"})
	got := classify.Default.Classify(err)
	if got.Class == classify.Permanent {
		t.Errorf("Classify(%v) = %v; want a connect error that is retried", err, got)
	}
}

// notSafeErr is an error that says, as pgconn's do after a write, that it
// is not safe to retry.
type notSafeErr struct{ err error }

func (e *notSafeErr) Error() string     { return "failed to receive message: " + e.err.Error() }
func (e *notSafeErr) Unwrap() error     { return e.err }
func (e *notSafeErr) SafeToRetry() bool { return false }
