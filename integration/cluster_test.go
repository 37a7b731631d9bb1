package integration_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql/integration/dbtest"
)

// The cluster facilities of dbtest (streaming replication, MariaDB GTID
// replication, Galera, Patroni): each is brought up, each of its actions
// is done once and its effect checked, and it is torn down. Every node is
// an instance of the test's own; the machine's servers are checked to be
// untouched.

// keepMachineServers fails the test if the machine's own servers were
// restarted while it ran.
func keepMachineServers(t *testing.T) {
	t.Helper()
	before := readMachineServers(t)
	t.Cleanup(func() {
		after := readMachineServers(t)
		if before.pg && (!after.pg || !after.pgStart.Equal(before.pgStart)) {
			t.Errorf("the machine's PostgreSQL was restarted or stopped (started %v, now %v, reachable %v)", before.pgStart, after.pgStart, after.pg)
		}
		if before.my && (!after.my || after.myUptime < before.myUptime) {
			t.Errorf("the machine's MariaDB was restarted or stopped (uptime %d s, now %d s, reachable %v)", before.myUptime, after.myUptime, after.my)
		}
	})
}

// step runs one action of a test and logs how long it took.
func step(t *testing.T, what string, f func() error) {
	t.Helper()
	began := time.Now()
	if err := f(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("%s: %v", what, time.Since(began).Round(time.Millisecond))
}

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func mysqlErrno(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func openDB(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPGCluster(t *testing.T) {
	keepMachineServers(t)
	began := time.Now()
	c := dbtest.StartPGCluster(t, 2)
	t.Logf("bring-up: %v", time.Since(began).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	port := func(dsn string) (int, error) {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		var p int
		err = db.QueryRowContext(ctx, "SELECT inet_server_port()").Scan(&p)
		return p, err
	}
	insert := func(n, id int) error {
		db, err := sql.Open("pgx", c.DSN(n))
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.ExecContext(ctx, "INSERT INTO rs_cluster (id) VALUES ($1)", id)
		return err
	}
	readOnly := func(n, id int) error {
		err := insert(n, id)
		if sqlState(err) != "25006" {
			return fmt.Errorf("a write on node%d: %v, want SQLSTATE 25006", n, err)
		}
		return nil
	}

	primary := openDB(t, "pgx", c.DSN(0))
	dbtest.Exec(t, primary, "CREATE TABLE rs_cluster (id INT PRIMARY KEY)", "INSERT INTO rs_cluster VALUES (1)")
	step(t, "replayed on both standbys", func() error {
		for n := 1; n <= 2; n++ {
			if err := c.WaitReplayed(ctx, 0, n); err != nil {
				return err
			}
			var got int
			if err := openDB(t, "pgx", c.DSN(n)).QueryRowContext(ctx, "SELECT count(*) FROM rs_cluster").Scan(&got); err != nil || got != 1 {
				return fmt.Errorf("node%d has %d rows (%v)", n, got, err)
			}
			if err := readOnly(n, 100+n); err != nil {
				return err
			}
		}
		return nil
	})
	if p, err := port(c.MultiHostDSN()); err != nil || p != c.Node(0).Port() {
		t.Fatalf("the multi-host DSN reached port %d (%v), want the primary's %d", p, err, c.Node(0).Port())
	}

	step(t, "kill node2's postmaster", func() error {
		if err := c.KillPostmaster(2); err != nil {
			return err
		}
		if _, err := port(c.DSN(2)); err == nil {
			return fmt.Errorf("node2 still answers")
		}
		return nil
	})
	step(t, "start node2 again, streaming", func() error {
		if err := c.Start(ctx, 2); err != nil {
			return err
		}
		return c.WaitStreaming(ctx, 0, 2)
	})

	held, err := primary.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	step(t, "stop the primary (fast)", func() error { return c.StopFast(0) })
	if _, err := held.ExecContext(ctx, "SELECT 1"); sqlState(err) != "57P01" {
		t.Errorf("a session of the stopped primary got %v, want 57P01", err)
	}
	step(t, "promote node1", func() error { return c.Promote(ctx, 1) })
	if err := insert(1, 2); err != nil {
		t.Fatalf("a write on the new primary: %v", err)
	}
	if p, err := port(c.MultiHostDSN()); err != nil || p != c.Node(1).Port() {
		t.Fatalf("the multi-host DSN reached port %d (%v), want the new primary's %d", p, err, c.Node(1).Port())
	}

	step(t, "rejoin node0 as node1's standby (pg_rewind)", func() error { return c.Rejoin(ctx, 0, 1) })
	if err := readOnly(0, 3); err != nil {
		t.Fatal(err)
	}
	if err := insert(1, 4); err != nil {
		t.Fatal(err)
	}
	step(t, "node0 replays node1's writes", func() error { return c.WaitReplayed(ctx, 1, 0) })
	var rows int
	if err := openDB(t, "pgx", c.DSN(0)).QueryRowContext(ctx, "SELECT count(*) FROM rs_cluster").Scan(&rows); err != nil || rows != 3 {
		t.Fatalf("node0 has %d rows (%v), want 3", rows, err)
	}

	newPrimary := openDB(t, "pgx", c.DSN(1))
	pooled, err := newPrimary.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pooled.Close()
	step(t, "demote node1 (read-only, still running)", func() error { return c.Demote(ctx, 1) })
	if _, err := pooled.ExecContext(ctx, "INSERT INTO rs_cluster VALUES (5)"); sqlState(err) != "25006" {
		t.Errorf("a session open across the demotion got %v, want 25006", err)
	}
	if err := readOnly(1, 6); err != nil {
		t.Error(err)
	}
	var recovery bool
	if err := newPrimary.QueryRowContext(ctx, "SELECT pg_is_in_recovery()").Scan(&recovery); err != nil || recovery {
		t.Errorf("the demoted node1: in recovery %v (%v), want a running primary", recovery, err)
	}
	if _, err := port(c.MultiHostDSN()); err == nil {
		t.Errorf("the multi-host DSN found a read-write node with node1 demoted")
	}
}

func TestPatroni(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	began := time.Now()
	p := dbtest.StartPatroni(t, 3)
	t.Logf("bring-up: %v", time.Since(began).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	db := openDB(t, "pgx", p.MultiHostDSN())
	dbtest.Exec(t, db, "CREATE TABLE rs_patroni (id INT PRIMARY KEY)", "INSERT INTO rs_patroni VALUES (1)")
	leader, err := p.Leader(ctx)
	if err != nil || leader != 0 {
		t.Fatalf("leader %d (%v), want node0", leader, err)
	}
	var crashed int
	step(t, "crash the leader (Patroni and postmaster killed)", func() error {
		crashed, err = p.CrashLeader(ctx)
		return err
	})
	if p.Node(crashed).PatroniPID() != 0 || p.Node(crashed).PostmasterPID() != 0 {
		t.Fatalf("node%d still runs: Patroni %d, postmaster %d", crashed, p.Node(crashed).PatroniPID(), p.Node(crashed).PostmasterPID())
	}
	var next int
	step(t, "a new leader accepts writes", func() error {
		next, err = p.WaitLeader(ctx, crashed)
		return err
	})
	t.Logf("node%d is the leader", next)
	fresh := openDB(t, "pgx", p.MultiHostDSN())
	if _, err := fresh.ExecContext(ctx, "INSERT INTO rs_patroni VALUES (2)"); err != nil {
		t.Fatalf("a write through the multi-host DSN after the failover: %v", err)
	}
	step(t, "the other replica streams from the new leader", func() error { return p.WaitStreaming(ctx, next, 1) })
}
