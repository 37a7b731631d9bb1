package integration_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/integration/failover"
)

// Failover scenarios through the harness of package failover, each run
// with the raw driver (pgx, go-sql-driver/mysql) and plain transactions,
// the baseline; with retrysql; and with retrysql and its commit check.
// Each scenario states where retrysql may report an unknown outcome; the
// tests check the targets for retrysql: no failed request but
// those, nothing lost or doubled, writes recovered, and at most
// maxAdded on top of the cluster's own recovery (measured apart, by the
// harness's probe: raw writes straight to the nodes that may take them).
// The scenarios live in failover_pg_test.go (PostgreSQL, Patroni) and
// failover_mariadb_test.go (MariaDB replication, Galera).

// maxAdded bounds what retrysql may add to the cluster's own recovery.
// The target is 0.5 s: requests wait for the breaker's half-open probe,
// at most its 500 ms open period after the cluster is back, then connect.
// The bound is twice that, so that the tests hold on 2 busy cores (a
// connect and a request there take tens of milliseconds, and a probe that
// fails just before the cluster is back costs a whole open period); the
// figures measured are in BENCHMARKS.md.
const maxAdded = time.Second

// maxHeal bounds, for a writer demoted under a pool, the time from the
// new primary's first write to every writer of the pool writing again.
const maxHeal = time.Second

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
	// Every retried attempt is reported to the harness, which places it
	// (BEGIN, a statement, COMMIT).
	placed := retrysql.WithOnRetry(func(ev retrysql.Event) { failover.Retried(ev.Ctx, ev.Err) })
	runner := func(opts ...retrysql.Option) failover.TxRunner {
		opts = append(opts, placed)
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

// targets is what a scenario allows and demands beyond the common checks.
type targets struct {
	// brokenBy says why the raw client may break the data's invariants
	// here ("": it may not).
	brokenBy string
	// unknown says why retrysql may report outcomes as unknown here: the
	// requests in flight when the node holding their sessions went away,
	// at most one per worker ("": none may be).
	unknown string
	// heal demands every writer of the pool back within maxHeal of the
	// cluster's recovery (a demoted writer's pooled connections).
	heal bool
	// conflicts demands 1213s both at a statement and at COMMIT, for
	// every client (Galera's conflicting writers).
	conflicts bool
}

// runScenario runs s with client cl and checks what must hold, for every
// client: the invariants of the data (unless e.brokenBy says why the raw
// client may break them), no failure before the fault, nothing doubled or
// lost, nothing reported ambiguous by the raw client. For retrysql, the
// issue's targets: no failed request but unknown outcomes, and those only
// where e.unknown says why; nothing failed yet committed; the writes
// recovered, within maxAdded of the cluster's own recovery.
func runScenario(t *testing.T, s failover.Scenario, cl client, e targets) *failover.Report {
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
	case !rep.Consistent() && (e.brokenBy == "" || cl.retrysql):
		t.Errorf("%s: the data broke its invariants: %v", s.Name, rep.Problems)
	case !rep.Consistent():
		t.Logf("%s: the data broke its invariants, as it may here: %s", s.Name, e.brokenBy)
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
	if e.conflicts {
		if st, co := rep.TxFailed(failover.AtStatement, "MySQL 1213"), rep.TxFailed(failover.AtCommit, "MySQL 1213"); st == 0 || co == 0 {
			t.Errorf("%s: 1213 at a statement %d times, at COMMIT %d times: want both", s.Name, st, co)
		}
	}
	if cl.retrysql {
		checkRetrysql(t, s, rep, e)
	}
	return rep
}

// checkRetrysql checks the targets on a retrysql client's report.
func checkRetrysql(t *testing.T, s failover.Scenario, rep *failover.Report, e targets) {
	t.Helper()
	if n := rep.Failed - rep.Ambiguous; n != 0 {
		t.Errorf("%s: %d requests failed with a known outcome, want 0", s.Name, n)
	}
	switch {
	case e.unknown == "" && rep.Ambiguous != 0:
		t.Errorf("%s: %d outcomes unknown, want 0: no session is lost in this scenario", s.Name, rep.Ambiguous)
	case rep.Ambiguous > rep.Workers:
		t.Errorf("%s: %d outcomes unknown, want at most one per worker (%d): %s", s.Name, rep.Ambiguous, rep.Workers, e.unknown)
	case rep.Ambiguous != 0:
		t.Logf("%s: %d outcomes unknown (%d committed), as they may be here: %s", s.Name, rep.Ambiguous, rep.AmbiguousCommitted, e.unknown)
	}
	if !rep.Recovered {
		t.Errorf("%s: the writes did not recover", s.Name)
		return
	}
	if len(s.Probe) == 0 {
		return
	}
	added, ok := rep.Added()
	if !ok {
		t.Errorf("%s: the cluster's own recovery was not measured: %v", s.Name, rep.ProbeErr)
		return
	}
	if added > maxAdded {
		t.Errorf("%s: write outage %v, the cluster's own %v: retrysql added %v, want at most %v", s.Name, rep.Outage, rep.Cluster, added, maxAdded)
	}
	if e.heal && (!rep.AllBackOK || rep.AllBack-rep.Cluster > maxHeal) {
		t.Errorf("%s: every writer back %s after the fault, the new primary took writes at %v: want within %v of it",
			s.Name, rep.AllBackString(), rep.Cluster, maxHeal)
	}
}
