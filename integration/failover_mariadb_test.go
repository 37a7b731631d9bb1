package integration_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/retrysql/retrysql/integration/dbtest"
	"github.com/retrysql/retrysql/integration/failover"
)

func TestFailoverMariaDB(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	var reports []*failover.Report
	for _, cl := range clients("mysql") {
		r := dbtest.StartMariaDBReplication(t)
		dsn := r.FailoverDSN() // the raw driver has no host list: a dialer that tries both nodes
		if cl.retrysql {
			dsn = hostList(r.Node(0), r.Node(1))
		}
		reports = append(reports, runScenario(t, failover.Scenario{
			Name: "MariaDB: primary stopped, replica promoted; a host list", Dialect: failover.MySQL,
			DSN: dsn, Probe: []string{r.DSN(1)},
			Primary: func(ctx context.Context) (*sql.DB, error) { return sql.Open("mysql", r.DSN(r.Primary())) },
			Fault: func(ctx context.Context) error {
				if err := r.Node(0).Stop(); err != nil {
					return err
				}
				return r.Promote(ctx, 1)
			},
		}, cl, targets{unknown: "a shutdown ends every session: " + lostSessions}))
	}
	t.Logf("MariaDB:\n%s", failover.Table(reports...))
}

// hostList returns retrysql's DSN for AppUser over nodes, asking for a
// writer.
func hostList(nodes ...*dbtest.Instance) string {
	addrs := ""
	for k, n := range nodes {
		if k > 0 {
			addrs += ","
		}
		addrs += n.Addr()
	}
	return fmt.Sprintf("%s:%s@tcp(%s)/test?targetSessionAttrs=read-write", dbtest.AppUser, dbtest.AppPassword, addrs)
}

// galeraRollback: without quorum, Galera answers ROLLBACK too with 1047;
// database/sql then puts the connection back in the pool, its transaction
// still open on the server (@@in_transaction = 1), and the next BEGIN on
// it, once the node is back in a primary component, commits the half of
// the transfer that had run: balances move without their ledger row.
// retrysql drops a connection whose ROLLBACK failed.
const galeraRollback = "a failed ROLLBACK (1047) leaves the transaction open on a pooled connection; the next BEGIN commits its first statements"

// TestFailoverGalera runs, for each client on a fresh 3-node cluster:
// writers on two nodes updating the same rows; a node other than the
// clients' killed; the clients' node killed, with a host list; and, with
// one node left of the two, quorum lost.
func TestFailoverGalera(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	var reports, conflicts []*failover.Report
	for _, cl := range clients("mysql") {
		g := dbtest.StartGalera(t, 3)
		// The scenario's tables are made, and read at the end, on the first
		// node that runs, with causal reads: before the fault, where the
		// writers go first (a node that has not applied the setup yet
		// would not find the accounts).
		live := func(ctx context.Context) (*sql.DB, error) {
			for n := range g.Len() {
				if g.Node(n).PID() != 0 {
					return sql.Open("mysql", g.DSN(n)+"?wsrep_sync_wait=1")
				}
			}
			return nil, errors.New("no Galera node runs")
		}
		rep := runScenario(t, failover.Scenario{
			Name: "Galera: conflicting writers on node0 and node1 (same rows)", Dialect: failover.MySQL,
			DSN: g.DSN(0), Second: g.DSN(1), Primary: live,
			Fault:    func(ctx context.Context) error { return nil }, // the writers on node1 start
			Accounts: 8, Settle: 5 * time.Second,
		}, cl, targets{conflicts: true})
		reports, conflicts = append(reports, rep), append(conflicts, rep)

		reports = append(reports, runScenario(t, failover.Scenario{
			Name: "Galera: another node killed; clients on node0", Dialect: failover.MySQL,
			DSN: g.DSN(0), Primary: live, Probe: []string{g.DSN(0), g.DSN(1)},
			Fault: func(ctx context.Context) error { return g.Kill(2) },
		}, cl, targets{}))
		galeraStep(t, func(ctx context.Context) error { return g.Rejoin(ctx, 2) })

		dsn := g.FailoverDSN(0, 1, 2) // a dialer that tries the nodes in turn
		if cl.retrysql {
			dsn = hostList(g.Node(0), g.Node(1), g.Node(2))
		}
		reports = append(reports, runScenario(t, failover.Scenario{
			Name: "Galera: the clients' node0 killed; a host list", Dialect: failover.MySQL,
			DSN: dsn, Primary: live, Probe: []string{g.DSN(1), g.DSN(2)},
			Fault: func(ctx context.Context) error { return g.Kill(0) },
		}, cl, targets{unknown: "node0 is killed (SIGKILL): " + lostSessions}))

		reports = append(reports, runScenario(t, failover.Scenario{
			Name: "Galera: quorum lost (the last other node killed), node1 bootstrapped once non-Primary; clients on node1", Dialect: failover.MySQL,
			DSN: g.DSN(1), Primary: live, Probe: []string{g.DSN(1)},
			Fault: func(ctx context.Context) error {
				if err := g.LoseQuorum(1); err != nil {
					return err
				}
				if err := g.WaitStatus(ctx, 1, "non-Primary"); err != nil {
					return err
				}
				return g.Bootstrap(ctx, 1)
			},
		}, cl, targets{brokenBy: galeraRollback,
			unknown: "the COMMITs in flight when node1 lost quorum are answered 1180 (not connected to the primary component): their outcome is unknown to the node itself"}))
	}
	t.Logf("Galera:\n%s", failover.Table(reports...))
	t.Logf("Galera, conflicting writers: where the 1213s came\n%s", failover.PlacedTable("MySQL 1213", conflicts...))
}

func galeraStep(t *testing.T, f func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f(ctx); err != nil {
		t.Fatal(err)
	}
}
