package retrysql_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine is left behind: no
// timer, ledger or breaker goroutine may outlive a cancelled backoff or a
// closed handle.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
