package integration_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/retrysql/retrysql/integration/dbtest"
	"github.com/retrysql/retrysql/integration/failover"
)

// lostSessions is why retrysql may report outcomes unknown where a node
// goes away with its clients' sessions: a request in flight there (an
// autocommit INSERT, or a COMMIT) has no answer, or one that does not
// settle it, and each worker has at most one in flight.
const lostSessions = "the requests in flight on the node that went away with their sessions: their answer was lost"

func TestFailoverPostgres(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	var reports []*failover.Report
	for _, cl := range clients("pgx") {
		c := dbtest.StartPGCluster(t, 1)
		primary := func(ctx context.Context) (*sql.DB, error) { return sql.Open("pgx", c.DSN(c.Primary())) }
		reports = append(reports, runScenario(t, failover.Scenario{
			Name: "PostgreSQL: primary stopped (fast), standby promoted; multi-host DSN", Dialect: failover.Postgres,
			DSN: c.MultiHostDSN(), Primary: primary, Probe: []string{c.DSN(1)},
			Fault: func(ctx context.Context) error {
				if err := c.StopFast(0); err != nil {
					return err
				}
				return c.Promote(ctx, 1)
			},
		}, cl, targets{unknown: "a fast shutdown ends every session (57P01): " + lostSessions}))

		// The old primary back as a standby, then the other trap: the
		// primary is made read-only while it keeps running, and the standby
		// promoted. No session ends: every write is refused (25006), and
		// the pool must heal.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := c.Rejoin(ctx, 0, 1); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		reports = append(reports, runScenario(t, failover.Scenario{
			Name: "PostgreSQL: primary made read-only (kept running), standby promoted; multi-host DSN", Dialect: failover.Postgres,
			DSN: c.MultiHostDSN(), Primary: primary, Probe: []string{c.DSN(0)},
			Fault: func(ctx context.Context) error {
				if err := c.Demote(ctx, 1); err != nil {
					return err
				}
				return c.Promote(ctx, 0)
			},
		}, cl, targets{heal: true}))
	}
	t.Logf("PostgreSQL:\n%s", failover.Table(reports...))
}

func TestFailoverPatroni(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	var reports []*failover.Report
	for _, cl := range clients("pgx") {
		p := dbtest.StartPatroni(t, 3)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		leader, err := p.Leader(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		var others []string // the nodes Patroni may promote
		for n := range p.Len() {
			if n != leader {
				others = append(others, p.DSN(n))
			}
		}
		reports = append(reports, runScenario(t, failover.Scenario{
			Name: "Patroni: leader crashed (Patroni and postmaster killed); multi-host DSN", Dialect: failover.Postgres,
			DSN: p.MultiHostDSN(), Probe: others,
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
		}, cl, targets{unknown: "the leader is killed (SIGKILL): " + lostSessions +
			"; a lost COMMIT is asked of the new leader, where PostgreSQL's check cannot trust 'committed', and autocommit statements are not checked"}))
	}
	t.Logf("Patroni:\n%s", failover.Table(reports...))
}
