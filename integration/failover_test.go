package integration_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
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

// A client is what a scenario runs its writers through: the raw driver
// with plain transactions (the baseline), or retrysql.
type client struct {
	name      string
	retrysql  bool
	open      func(dsn string) (*sql.DB, error)
	runInTx   failover.TxRunner
	ambiguous func(error) bool
}

func clients(driver string) []client {
	ambiguous := func(err error) bool {
		return errors.Is(err, retrysql.ErrAmbiguousCommit) || errors.Is(err, retrysql.ErrAmbiguous)
	}
	open := rawOpener("retry+" + map[string]string{"pgx": "pgx", "mysql": "mysql"}[driver])
	runner := func(opts ...retrysql.Option) failover.TxRunner {
		return func(ctx context.Context, db *sql.DB, fn func(context.Context, *sql.Tx) error) error {
			return retrysql.RunInTx(ctx, db, nil, fn, opts...)
		}
	}
	return []client{
		{name: "raw " + driver, open: rawOpener(driver), runInTx: failover.RawTx},
		{name: "retrysql", retrysql: true, open: open, runInTx: runner(), ambiguous: ambiguous},
		{name: "retrysql, commit check", retrysql: true, open: open, runInTx: runner(retrysql.WithCommitCheck(true)), ambiguous: ambiguous},
	}
}

// runScenario runs s with client cl and checks what must hold: the
// invariants of the data (unless brokenBy says why the raw client may
// break them), no failures before the fault, no double apply; a raw client
// reports nothing as ambiguous, and retrysql loses nothing.
func runScenario(t *testing.T, s failover.Scenario, cl client, brokenBy string) *failover.Report {
	t.Helper()
	s.Name += "; " + cl.name
	s.Open, s.RunInTx, s.Ambiguous = cl.open, cl.runInTx, cl.ambiguous
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := failover.Run(ctx, s)
	if rep != nil {
		t.Logf("%s", rep)
		for _, e := range rep.Errors {
			t.Logf("  %d× %s", e.N, e.Sample)
		}
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
	case !rep.Consistent() && (brokenBy == "" || cl.retrysql):
		t.Errorf("%s: the data broke its invariants: %v", s.Name, rep.Problems)
	case !rep.Consistent():
		t.Logf("%s: the data broke its invariants, as it may here: %s", s.Name, brokenBy)
	}
	switch {
	case rep.Doubled != 0 || rep.Lost != 0 || (cl.retrysql && rep.FailedCommitted != 0):
		t.Errorf("%s: %d doubled, %d lost, %d failed yet committed", s.Name, rep.Doubled, rep.Lost, rep.FailedCommitted)
	case rep.FailedCommitted != 0:
		// The raw driver cannot tell a lost COMMIT from a failed one: it
		// reports an error for a transaction that committed (retrysql
		// reports it ambiguous, or resolves it with the commit check).
		t.Logf("%s: %d failed yet committed, as a raw driver may", s.Name, rep.FailedCommitted)
	}
	if !cl.retrysql && rep.Ambiguous != 0 {
		t.Errorf("%s: the raw client reported %d ambiguous", s.Name, rep.Ambiguous)
	}
	return rep
}

func TestFailoverPostgres(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	var reports []*failover.Report
	for _, cl := range clients("pgx") {
		c := dbtest.StartPGCluster(t, 1)
		primary := func(ctx context.Context) (*sql.DB, error) { return sql.Open("pgx", c.DSN(c.Primary())) }
		reports = append(reports, runScenario(t, failover.Scenario{
			Name: "PostgreSQL: primary stopped (fast), standby promoted; multi-host DSN", Dialect: failover.Postgres,
			DSN: c.MultiHostDSN(), Primary: primary,
			Fault: func(ctx context.Context) error {
				if err := c.StopFast(0); err != nil {
					return err
				}
				return c.Promote(ctx, 1)
			},
		}, cl, ""))

		// The old primary back as a standby, then the other trap: the
		// primary is made read-only while it keeps running, and the standby
		// promoted.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := c.Rejoin(ctx, 0, 1); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		reports = append(reports, runScenario(t, failover.Scenario{
			Name: "PostgreSQL: primary made read-only (kept running), standby promoted; multi-host DSN", Dialect: failover.Postgres,
			DSN: c.MultiHostDSN(), Primary: primary,
			Fault: func(ctx context.Context) error {
				if err := c.Demote(ctx, 1); err != nil {
					return err
				}
				return c.Promote(ctx, 0)
			},
		}, cl, ""))
	}
	t.Logf("PostgreSQL:\n%s", failover.Table(reports...))
}

func TestFailoverMariaDB(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	var reports []*failover.Report
	for _, cl := range clients("mysql") {
		r := dbtest.StartMariaDBReplication(t)
		dsn := r.FailoverDSN() // the raw driver has no host list: a dialer that tries both nodes
		if cl.retrysql {
			dsn = dbtest.AppUser + ":" + dbtest.AppPassword + "@tcp(" + r.Node(0).Addr() + "," + r.Node(1).Addr() + ")/test?targetSessionAttrs=read-write"
		}
		reports = append(reports, runScenario(t, failover.Scenario{
			Name: "MariaDB: primary stopped, replica promoted; a host list", Dialect: failover.MySQL,
			DSN:     dsn,
			Primary: func(ctx context.Context) (*sql.DB, error) { return sql.Open("mysql", r.DSN(r.Primary())) },
			Fault: func(ctx context.Context) error {
				if err := r.Node(0).Stop(); err != nil {
					return err
				}
				return r.Promote(ctx, 1)
			},
		}, cl, ""))
	}
	t.Logf("MariaDB:\n%s", failover.Table(reports...))
}

// galeraRollback: without quorum, Galera answers ROLLBACK too with 1047;
// database/sql then puts the connection back in the pool, its transaction
// still open on the server (@@in_transaction = 1), and the next BEGIN on
// it, once the node is back in a primary component, commits the half of
// the transfer that had run: balances move without their ledger row.
// retrysql drops a connection whose ROLLBACK failed.
const galeraRollback = "a failed ROLLBACK (1047) leaves the transaction open on a pooled connection; the next BEGIN commits its first statements"

func TestFailoverGalera(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	var reports []*failover.Report
	for _, cl := range clients("mysql") {
		g := dbtest.StartGalera(t, 3)
		primary := func(ctx context.Context) (*sql.DB, error) { return sql.Open("mysql", g.DSN(0)+"?wsrep_sync_wait=1") }
		reports = append(reports, runScenario(t, failover.Scenario{
			Name: "Galera: another node killed; clients on node0", Dialect: failover.MySQL,
			DSN: g.DSN(0), Primary: primary,
			Fault: func(ctx context.Context) error { return g.Kill(2) },
		}, cl, ""))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := g.WaitSynced(ctx, 0, 2); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		reports = append(reports, runScenario(t, failover.Scenario{
			Name: "Galera: quorum lost (the last other node killed), node0 bootstrapped once non-Primary; clients on node0", Dialect: failover.MySQL,
			DSN: g.DSN(0), Primary: primary,
			Fault: func(ctx context.Context) error {
				if err := g.LoseQuorum(0); err != nil {
					return err
				}
				if err := g.WaitStatus(ctx, 0, "non-Primary"); err != nil {
					return err
				}
				return g.Bootstrap(ctx, 0)
			},
		}, cl, galeraRollback))
	}
	t.Logf("Galera:\n%s", failover.Table(reports...))
}

func TestFailoverPatroni(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	var reports []*failover.Report
	for _, cl := range clients("pgx") {
		p := dbtest.StartPatroni(t, 3)
		rep := runScenario(t, failover.Scenario{
			Name: "Patroni: leader crashed (Patroni and postmaster killed); multi-host DSN", Dialect: failover.Postgres,
			DSN: p.MultiHostDSN(),
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
		}, cl, "")
		if !rep.Recovered {
			t.Errorf("%s: the writes did not recover after Patroni's failover", rep.Name)
		}
		reports = append(reports, rep)
	}
	t.Logf("Patroni:\n%s", failover.Table(reports...))
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
