package integration_test

import (
	"context"
	"database/sql"
	"io"
	"testing"
	"time"

	"github.com/retrysql/retrysql/integration/contention"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// TestRowLocksReference runs the contention harness's reference (each
// transfer takes its two rows' advisory locks before its transaction) on
// 4 hot rows of both databases: transfers on a shared row never overlap,
// so they almost never abort, and every lock is gone when the run ends.
func TestRowLocksReference(t *testing.T) {
	dsns := contention.DSNs{Postgres: dbtest.PostgresDSN(t), MySQL: dbtest.MySQLDSN(t)}
	cells := fourHotCells(t)
	rows, err := contention.Run(context.Background(), dsns, cells, []contention.Strategy{contention.RowLocks()}, 500*time.Millisecond, 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		s := r.Samples[0]
		t.Logf("%s: %.0f/s, runs/commit %.3f, p99 %v", r.Cell, s.PerSecond, s.RunsPerCommit, s.P99)
		// Without the locks, 4 hot rows and 16 workers run 2.8–6.3 times
		// per commit (BENCHMARKS.md).
		if s.Violations != 0 || s.GivenUp != 0 || s.PerSecond == 0 || s.RunsPerCommit > 1.1 {
			t.Errorf("%s: %+v", r.Cell, s)
		}
	}

	pg, err := sql.Open("pgx", dsns.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	var held int
	if err := pg.QueryRow("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 29299").Scan(&held); err != nil || held != 0 {
		t.Errorf("PostgreSQL: %d advisory locks of the reference left (%v)", held, err)
	}
	my, err := sql.Open("mysql", dsns.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	defer my.Close()
	for a := 1; a <= 4; a++ {
		var holder sql.NullInt64
		if err := my.QueryRow("SELECT IS_USED_LOCK(CONCAT('retrysql-ref-', ?))", a).Scan(&holder); err != nil || holder.Valid {
			t.Errorf("MariaDB: lock of account %d held by %v (%v)", a, holder, err)
		}
	}
}
