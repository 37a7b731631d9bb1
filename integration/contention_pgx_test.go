package integration_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/retrysql/retrysql/integration/contention"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// TestContentionHarnessPgx runs the pgx-native rows of the contention
// benchmark briefly on one PostgreSQL cell, so that CI keeps them working
// and checks the bank's invariants through pgxretry under real
// contention; they do not run on a MariaDB cell.
func TestContentionHarnessPgx(t *testing.T) {
	dsns := contention.DSNs{Postgres: dbtest.PostgresDSN(t), MySQL: dbtest.MySQLDSN(t)}
	cells := fourHotCells(t)
	strategies := contention.PgxStrategies()
	if len(strategies) != 2 {
		t.Fatalf("%d strategies: the names changed", len(strategies))
	}
	rows, err := contention.Run(context.Background(), dsns, cells, strategies, 500*time.Millisecond, 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2 (PostgreSQL only)", len(rows))
	}
	for _, r := range rows {
		s := r.Samples[0]
		t.Logf("%s / %s: %.0f/s, p99 %v, runs/commit %.2f, given up %d, violations %d, limit %.2f", r.Cell, r.Strategy, s.PerSecond, s.P99, s.RunsPerCommit, s.GivenUp, s.Violations, s.MeanLimit)
		if s.Violations != 0 || s.GivenUp != 0 || s.PerSecond == 0 || s.RunsPerCommit <= 1 {
			t.Errorf("%s: %s: %+v", r.Cell, r.Strategy, s)
		}
		if r.Strategy == "pgxretry, retrysql admission" && s.MeanLimit < 1 {
			t.Errorf("%s: admission's limit was not sampled: %+v", r.Cell, s)
		}
	}
}
