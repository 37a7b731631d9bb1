package retryhttp_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine is left behind: a
// response body or a connection the transport forgot to close, a timer of
// an attempt's bound.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
