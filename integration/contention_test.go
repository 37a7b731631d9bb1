package integration_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/retrysql/retrysql/examples/bank/workload"
	"github.com/retrysql/retrysql/integration/contention"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// fourHotCells returns the main table's cells of 4 hot rows and 16
// workers, PostgreSQL's and MariaDB's: the cells the harness's tests run.
func fourHotCells(t *testing.T) []contention.Cell {
	t.Helper()
	var cells []contention.Cell
	for _, c := range contention.Cells() {
		if c.Name == "PG serializable, sorted, 4 hot, 16 workers" || c.Name == "MariaDB repeatable read, random order, 4 hot, 16 workers" {
			cells = append(cells, c)
		}
	}
	if len(cells) != 2 {
		t.Fatalf("%d cells of 4 hot rows and 16 workers: the names changed", len(cells))
	}
	return cells
}

// TestContentionHarness runs the contention benchmark briefly, on one
// PostgreSQL and one MariaDB cell with two strategies, so that CI keeps the
// harness working and checks the bank's invariants under real contention.
func TestContentionHarness(t *testing.T) {
	dsns := contention.DSNs{Postgres: dbtest.PostgresDSN(t), MySQL: dbtest.MySQLDSN(t)}
	cells := fourHotCells(t)
	var strategies []contention.Strategy
	for _, s := range contention.Strategies() {
		if s.Name == "retrysql default" || s.Name == "cockroach-go crdb.ExecuteTx" || s.Name == "retrysql admission" {
			strategies = append(strategies, s)
		}
	}
	if len(strategies) != 3 {
		t.Fatalf("%d strategies: the names changed", len(strategies))
	}
	rows, err := contention.Run(context.Background(), dsns, cells, strategies, 500*time.Millisecond, 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 { // cockroach-go runs on PostgreSQL only
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		s := r.Samples[0]
		t.Logf("%s / %s: %.0f/s, p99 %v, given up %d, violations %d", r.Cell, r.Strategy, s.PerSecond, s.P99, s.GivenUp, s.Violations)
		if r.Strategy != "cockroach-go crdb.ExecuteTx" && (s.Violations != 0 || s.GivenUp != 0 || s.PerSecond == 0) {
			t.Errorf("%s: %s: %+v", r.Cell, r.Strategy, s)
		}
		if r.Strategy == "retrysql admission" && s.MeanLimit < 1 {
			t.Errorf("%s: admission's limit was not sampled: %+v", r.Cell, s)
		}
	}
}

// TestContentionHarnessMore runs the further kinds of cell briefly with
// admission: two client processes (this test binary started again, see
// TestMain), phases, and cold workers beside hot ones.
func TestContentionHarnessMore(t *testing.T) {
	dsns := contention.DSNs{Postgres: dbtest.PostgresDSN(t), MySQL: dbtest.MySQLDSN(t)}
	var adm, hotOnly contention.Strategy
	for _, s := range contention.Strategies() {
		switch s.Name {
		case "retrysql admission":
			adm = s
		case "retrysql admission, hot rows only":
			hotOnly = s
		}
	}
	if adm.Runner == nil || hotOnly.Runner == nil {
		t.Fatal("the admission strategies were renamed")
	}
	base := contention.Cell{Dialect: workload.Postgres, Order: workload.Sorted, Isolation: sql.LevelSerializable,
		Accounts: 4, Workers: 8, Settings: map[string]string{"enable_seqscan": "off"}}
	multi := base
	multi.Name, multi.Processes = "two processes", 2
	phased := base
	phased.Name, phased.Accounts = "phases", 64
	phased.Phases = []contention.Phase{{Hot: 64, Length: 400 * time.Millisecond}, {Hot: 4, Length: 400 * time.Millisecond}}
	mixed := base
	mixed.Name, mixed.Accounts, mixed.ColdWorkers, mixed.HotAccounts = "cold beside hot", 64, 4, 4

	var perProcess bytes.Buffer
	contention.ShowProcesses = &perProcess
	defer func() { contention.ShowProcesses = nil }()
	rows, err := contention.Run(context.Background(), dsns, []contention.Cell{multi, phased, mixed},
		[]contention.Strategy{adm, hotOnly}, 500*time.Millisecond, 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 { // hot rows only: the mixed cell alone
		t.Fatalf("%d rows", len(rows))
	}
	// One line per process of the one cell run in two (-processes).
	if n := strings.Count(perProcess.String(), "process "); n != 2 || !strings.Contains(perProcess.String(), "process 1: ") {
		t.Errorf("per-process lines:\n%s", perProcess.String())
	}
	for _, r := range rows {
		s := r.Samples[0]
		t.Logf("%s / %s: %+v", r.Cell, r.Strategy, s)
		if s.Violations != 0 || s.GivenUp != 0 || s.PerSecond == 0 {
			t.Errorf("%s / %s: %+v", r.Cell, r.Strategy, s)
		}
		switch r.Cell {
		case "two processes":
			if s.Fairness <= 0 || s.Fairness > 1 {
				t.Errorf("fairness %v", s.Fairness)
			}
		case "phases":
			if len(s.Phases) != 2 || s.Phases[0].PerSecond == 0 || s.Phases[1].PerSecond == 0 {
				t.Errorf("phases %+v", s.Phases)
			}
		case "cold beside hot":
			if s.ColdPerSecond == 0 {
				t.Errorf("no cold transfers: %+v", s)
			}
		}
	}
}

// TestContentionPaired runs the paired comparison briefly on both
// databases' low-contention cells: every phase's transfers are checked,
// and the ratio is of two goodputs measured.
func TestContentionPaired(t *testing.T) {
	dsns := contention.DSNs{Postgres: dbtest.PostgresDSN(t), MySQL: dbtest.MySQLDSN(t)}
	var off, on contention.Strategy
	for _, s := range append(contention.Strategies(), contention.FleetStrategies()...) {
		switch s.Name {
		case "retrysql without admission":
			off = s
		case "admission hot keys + fleet gate":
			on = s
		}
	}
	if off.Name == "" || on.Name == "" {
		t.Fatal("the strategies' names changed")
	}
	n := 0
	for _, c := range contention.MoreCells() {
		if c.Accounts != 1024 || c.ColdWorkers > 0 || len(c.Phases) > 0 {
			continue
		}
		n++
		c.Workers = 8
		r, err := contention.Paired(context.Background(), dsns, c, off, on, 150*time.Millisecond, 3, 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v", c.Name, r)
		if r.Pairs != 3 || r.Ratio <= 0 || r.OffPerSecond <= 0 || r.OnPerSecond <= 0 || r.GivenUp != 0 || r.Violations != 0 || r.Lo95 != 0 {
			t.Errorf("%s: %+v", c.Name, r)
		}
	}
	if n != 2 {
		t.Fatalf("%d low-contention cells, want 2", n)
	}
	multi := contention.FleetCells()[0]
	if _, err := contention.Paired(context.Background(), dsns, multi, off, on, time.Millisecond, 1, 1); err == nil {
		t.Error("paired runs of a cell of several processes")
	}
}
