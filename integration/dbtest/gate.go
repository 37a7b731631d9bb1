package dbtest

import (
	"os"
	"testing"
)

// SlowClusters skips a slow cluster test (Galera, Patroni, the failover
// scenarios) unless it was asked for: under CI (CI set) it runs, and
// elsewhere with RETRYSQL_CLUSTERS=1; with -short never. A test it lets
// through still skips, CI or not, when the cluster's binaries are missing.
func SlowClusters(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("a slow cluster test: skipped with -short")
	}
	if os.Getenv("CI") == "" && os.Getenv("RETRYSQL_CLUSTERS") != "1" {
		t.Skip("a slow cluster test: set RETRYSQL_CLUSTERS=1 to run it (CI runs it)")
	}
}
