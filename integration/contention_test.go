package integration_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/retrysql/retrysql/integration/contention"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// TestContentionHarness runs the contention benchmark briefly, on one
// PostgreSQL and one MariaDB cell with two strategies, so that CI keeps the
// harness working and checks the bank's invariants under real contention.
func TestContentionHarness(t *testing.T) {
	dsns := contention.DSNs{Postgres: dbtest.PostgresDSN(t), MySQL: dbtest.MySQLDSN(t)}
	var cells []contention.Cell
	for _, c := range contention.Cells() {
		if c.Name == "PG serializable, sorted, 4 hot, 16 workers" || c.Name == "MariaDB repeatable read, random order, 4 hot, 16 workers" {
			cells = append(cells, c)
		}
	}
	var strategies []contention.Strategy
	for _, s := range contention.Strategies() {
		if s.Name == "retrysql default" || s.Name == "cockroach-go crdb.ExecuteTx" {
			strategies = append(strategies, s)
		}
	}
	if len(cells) != 2 || len(strategies) != 2 {
		t.Fatalf("cells %d, strategies %d: the names changed", len(cells), len(strategies))
	}
	rows, err := contention.Run(context.Background(), dsns, cells, strategies, 500*time.Millisecond, 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 { // cockroach-go runs on PostgreSQL only
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		s := r.Samples[0]
		t.Logf("%s / %s: %.0f/s, p99 %v, given up %d, violations %d", r.Cell, r.Strategy, s.PerSecond, s.P99, s.GivenUp, s.Violations)
		if r.Strategy == "retrysql default" && (s.Violations != 0 || s.GivenUp != 0 || s.PerSecond == 0) {
			t.Errorf("%s: retrysql default: %+v", r.Cell, s)
		}
	}
}
