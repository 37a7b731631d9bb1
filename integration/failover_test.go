package integration_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/retrysql/retrysql/integration/dbtest"
	"github.com/retrysql/retrysql/integration/failover"
)

// Failover scenarios through the harness of package failover, with the
// raw drivers (pgx, go-sql-driver/mysql) and plain transactions: the
// baseline that a retrying client is measured against. The same
// scenarios run with retrysql by giving failover.Scenario another Open
// and RunInTx (see the package's documentation).

func rawOpener(driver string) func(string) (*sql.DB, error) {
	return func(dsn string) (*sql.DB, error) { return sql.Open(driver, dsn) }
}

// runScenario runs s and checks what holds whatever the client: the
// invariants of the data (unless brokenBy says why the raw client may
// break them), no failures before the fault, and, since a raw client never
// repeats a request and reports nothing as ambiguous, no doubles and no
// ambiguous outcomes.
func runScenario(t *testing.T, s failover.Scenario, brokenBy string) *failover.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := failover.Run(ctx, s)
	if rep != nil {
		t.Logf("%s", rep)
	}
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests == 0 || rep.Succeeded == 0 {
		t.Errorf("%s: %d requests, %d succeeded: the writers did not run", s.Name, rep.Requests, rep.Succeeded)
	}
	if rep.FailedBefore != 0 {
		t.Errorf("%s: %d requests failed before the fault", s.Name, rep.FailedBefore)
	}
	switch {
	case !rep.Consistent() && brokenBy == "":
		t.Errorf("%s: the data broke its invariants: %v", s.Name, rep.Problems)
	case !rep.Consistent():
		t.Logf("%s: the data broke its invariants, as it may here: %s", s.Name, brokenBy)
	}
	if rep.Doubled != 0 || rep.Ambiguous != 0 {
		t.Errorf("%s: the raw client doubled %d requests and reported %d ambiguous", s.Name, rep.Doubled, rep.Ambiguous)
	}
	return rep
}

func TestFailoverPostgres(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	c := dbtest.StartPGCluster(t, 1)
	primary := func(ctx context.Context) (*sql.DB, error) { return sql.Open("pgx", c.DSN(c.Primary())) }
	stop := runScenario(t, failover.Scenario{
		Name: "PostgreSQL: primary stopped (fast), standby promoted; raw pgx, multi-host DSN", Dialect: failover.Postgres,
		DSN: c.MultiHostDSN(), Open: rawOpener("pgx"), RunInTx: failover.RawTx, Primary: primary,
		Fault: func(ctx context.Context) error {
			if err := c.StopFast(0); err != nil {
				return err
			}
			return c.Promote(ctx, 1)
		},
	}, "")

	// The old primary back as a standby, then the other trap: the primary
	// is made read-only while it keeps running, and the standby promoted.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Rejoin(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	demote := runScenario(t, failover.Scenario{
		Name: "PostgreSQL: primary made read-only (kept running), standby promoted; raw pgx, multi-host DSN", Dialect: failover.Postgres,
		DSN: c.MultiHostDSN(), Open: rawOpener("pgx"), RunInTx: failover.RawTx, Primary: primary,
		Fault: func(ctx context.Context) error {
			if err := c.Demote(ctx, 1); err != nil {
				return err
			}
			return c.Promote(ctx, 0)
		},
	}, "")
	t.Logf("raw baseline:\n%s", failover.Table(stop, demote))
}

func TestFailoverMariaDB(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	r := dbtest.StartMariaDBReplication(t)
	rep := runScenario(t, failover.Scenario{
		Name: "MariaDB: primary stopped, replica promoted; raw go-sql-driver/mysql, failover dialer", Dialect: failover.MySQL,
		DSN: r.FailoverDSN(), Open: rawOpener("mysql"), RunInTx: failover.RawTx,
		Primary: func(ctx context.Context) (*sql.DB, error) { return sql.Open("mysql", r.DSN(r.Primary())) },
		Fault: func(ctx context.Context) error {
			if err := r.Node(0).Stop(); err != nil {
				return err
			}
			return r.Promote(ctx, 1)
		},
	}, "")
	t.Logf("raw baseline:\n%s", failover.Table(rep))
}

// galeraRollback: without quorum, Galera answers ROLLBACK too with 1047;
// database/sql then puts the connection back in the pool, its transaction
// still open on the server (@@in_transaction = 1), and the next BEGIN on
// it, once the node is back in a primary component, commits the half of
// the transfer that had run: balances move without their ledger row.
const galeraRollback = "a failed ROLLBACK (1047) leaves the transaction open on a pooled connection; the next BEGIN commits its first statements"

func TestFailoverGalera(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	g := dbtest.StartGalera(t, 3)
	primary := func(ctx context.Context) (*sql.DB, error) { return sql.Open("mysql", g.DSN(0)+"?wsrep_sync_wait=1") }
	kill := runScenario(t, failover.Scenario{
		Name: "Galera: another node killed; raw go-sql-driver/mysql on node0", Dialect: failover.MySQL,
		DSN: g.DSN(0), Open: rawOpener("mysql"), RunInTx: failover.RawTx, Primary: primary,
		Fault: func(ctx context.Context) error { return g.Kill(2) },
	}, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := g.WaitSynced(ctx, 0, 2); err != nil {
		t.Fatal(err)
	}
	quorum := runScenario(t, failover.Scenario{
		Name: "Galera: quorum lost (the last other node killed), node0 bootstrapped once non-Primary; raw go-sql-driver/mysql on node0", Dialect: failover.MySQL,
		DSN: g.DSN(0), Open: rawOpener("mysql"), RunInTx: failover.RawTx, Primary: primary,
		Fault: func(ctx context.Context) error {
			if err := g.LoseQuorum(0); err != nil {
				return err
			}
			if err := g.WaitStatus(ctx, 0, "non-Primary"); err != nil {
				return err
			}
			return g.Bootstrap(ctx, 0)
		},
	}, galeraRollback)
	t.Logf("raw baseline:\n%s", failover.Table(kill, quorum))
}

func TestFailoverPatroni(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	p := dbtest.StartPatroni(t, 3)
	rep := runScenario(t, failover.Scenario{
		Name: "Patroni: leader crashed (Patroni and postmaster killed); raw pgx, multi-host DSN", Dialect: failover.Postgres,
		DSN: p.MultiHostDSN(), Open: rawOpener("pgx"), RunInTx: failover.RawTx,
		Primary: func(ctx context.Context) (*sql.DB, error) {
			leader, err := p.WaitLeader(ctx, -1)
			if err != nil {
				return nil, err
			}
			return sql.Open("pgx", p.DSN(leader))
		},
		Fault: func(ctx context.Context) error {
			_, err := p.CrashLeader(ctx)
			return err
		},
		Wait: 25 * time.Second, // Patroni promotes after its ttl (10 s)
	}, "")
	if !rep.Recovered {
		t.Error(errors.New("the writes did not recover after Patroni's failover"))
	}
	t.Logf("raw baseline:\n%s", failover.Table(rep))
}

// The harness itself, on a PostgreSQL of the test's own with no fault:
// runners that apply each transfer twice, drop it, or commit it and then
// fail are counted as doubled, lost, ambiguous and committed, or failed
// yet committed.
func TestFailoverHarness(t *testing.T) {
	inst := dbtest.StartPostgres(t)
	errAfterCommit := errors.New("failed after COMMIT")
	twice := func(ctx context.Context, db *sql.DB, fn func(context.Context, *sql.Tx) error) error {
		if err := failover.RawTx(ctx, db, fn); err != nil {
			return err
		}
		return failover.RawTx(ctx, db, fn)
	}
	dropped := func(ctx context.Context, db *sql.DB, fn func(context.Context, *sql.Tx) error) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(ctx, tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Rollback()
	}
	committedThenFailed := func(ctx context.Context, db *sql.DB, fn func(context.Context, *sql.Tx) error) error {
		if err := failover.RawTx(ctx, db, fn); err != nil {
			return err
		}
		return errAfterCommit
	}
	for _, tc := range []struct {
		name      string
		run       failover.TxRunner
		ambiguous func(error) bool
		check     func(r *failover.Report) bool
	}{
		{"plain", failover.RawTx, nil, func(r *failover.Report) bool {
			return r.Failed == 0 && r.Lost == 0 && r.Doubled == 0 && r.Recovered
		}},
		{"twice", twice, nil, func(r *failover.Report) bool { return r.Failed == 0 && r.Doubled == r.Transfers && r.Lost == 0 }},
		{"dropped", dropped, nil, func(r *failover.Report) bool { return r.Failed == 0 && r.Lost == r.Transfers && r.Doubled == 0 }},
		{"ambiguous", committedThenFailed, func(err error) bool { return errors.Is(err, errAfterCommit) }, func(r *failover.Report) bool {
			return r.Failed == r.Transfers && r.Ambiguous == r.Transfers && r.AmbiguousCommitted == r.Transfers && r.FailedCommitted == 0
		}},
		{"failed yet committed", committedThenFailed, nil, func(r *failover.Report) bool {
			return r.Failed == r.Transfers && r.Ambiguous == 0 && r.FailedCommitted == r.Transfers
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := failover.Run(ctx, failover.Scenario{
				Name: tc.name, Dialect: failover.Postgres, DSN: inst.DSN(), Open: rawOpener("pgx"),
				RunInTx: tc.run, Ambiguous: tc.ambiguous,
				Primary: func(context.Context) (*sql.DB, error) { return sql.Open("pgx", inst.DSN()) },
				Fault:   func(context.Context) error { return nil },
				Workers: 4, Before: 300 * time.Millisecond, Settle: 300 * time.Millisecond, Wait: 5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Transfers == 0 || rep.Inserts == 0 || !rep.Consistent() || !tc.check(rep) {
				t.Errorf("%s", rep)
			}
		})
	}
}
