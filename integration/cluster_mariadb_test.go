package integration_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/retrysql/retrysql/integration/dbtest"
)

func TestMariaDBReplication(t *testing.T) {
	keepMachineServers(t)
	began := time.Now()
	r := dbtest.StartMariaDBReplication(t)
	t.Logf("bring-up: %v", time.Since(began).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	insert := func(dsn string, id int) error {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.ExecContext(ctx, "INSERT INTO rs_repl (id) VALUES (?)", id)
		return err
	}
	refused := func(dsn string, id int) error {
		if err := insert(dsn, id); mysqlErrno(err) != 1290 {
			return fmt.Errorf("a write as %s: %v, want error 1290", dbtest.AppUser, err)
		}
		return nil
	}
	count := func(n int) int {
		var got int
		if err := openDB(t, "mysql", r.DSN(n)).QueryRowContext(ctx, "SELECT count(*) FROM rs_repl").Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}

	primary := openDB(t, "mysql", r.DSN(0))
	dbtest.Exec(t, primary, "CREATE TABLE rs_repl (id INT PRIMARY KEY)", "INSERT INTO rs_repl VALUES (1)")
	step(t, "replicated", func() error { return r.WaitReplicated(ctx, 0, 1) })
	if got := count(1); got != 1 {
		t.Fatalf("the replica has %d rows, want 1", got)
	}
	if err := refused(r.DSN(1), 2); err != nil {
		t.Fatalf("on the replica: %v", err)
	}

	pooled, err := primary.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pooled.Close()
	step(t, "set read_only on the primary", func() error { return r.SetReadOnly(ctx, 0, true) })
	if _, err := pooled.ExecContext(ctx, "INSERT INTO rs_repl VALUES (3)"); mysqlErrno(err) != 1290 {
		t.Errorf("a session open across read_only got %v, want 1290", err)
	}
	if err := insert(r.RootDSN(0), 4); err != nil {
		t.Errorf("root on the read-only primary: %v (root holds READ_ONLY ADMIN: it writes)", err)
	}

	step(t, "replica caught up", func() error { return r.WaitReplicated(ctx, 0, 1) })
	step(t, "promote the replica", func() error { return r.Promote(ctx, 1) })
	if err := insert(r.DSN(1), 5); err != nil {
		t.Fatalf("a write on the new primary: %v", err)
	}
	step(t, "stop the old primary", func() error { return r.Node(0).Stop() })
	step(t, "rejoin the old primary as a replica (current_pos)", func() error { return r.Rejoin(ctx, 0, 1) })
	if err := insert(r.DSN(1), 6); err != nil {
		t.Fatal(err)
	}
	step(t, "replicated to the old primary", func() error { return r.WaitReplicated(ctx, 1, 0) })
	if got := count(0); got != 4 {
		t.Fatalf("the old primary has %d rows, want 4 (1, 4, 5, 6)", got)
	}
	if err := refused(r.DSN(0), 7); err != nil {
		t.Fatalf("on the old primary, now a replica: %v", err)
	}
	// The failover DSN skips a node that is down.
	step(t, "kill node0", func() error { return r.Node(0).Kill() })
	if err := insert(r.FailoverDSN(), 8); err != nil {
		t.Fatalf("through the failover DSN with node0 down: %v", err)
	}
}

func TestGalera(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	began := time.Now()
	g := dbtest.StartGalera(t, 3)
	t.Logf("bring-up: %v", time.Since(began).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	db0 := openDB(t, "mysql", g.DSN(0))
	dbtest.Exec(t, db0, "CREATE TABLE rs_galera (id INT PRIMARY KEY)", "INSERT INTO rs_galera VALUES (1)")
	var got int
	if err := openDB(t, "mysql", g.DSN(2)+"?wsrep_sync_wait=1").QueryRowContext(ctx, "SELECT count(*) FROM rs_galera").Scan(&got); err != nil || got != 1 {
		t.Fatalf("node2 has %d rows (%v), want 1", got, err)
	}

	step(t, "kill node2", func() error { return g.Kill(2) })
	step(t, "node2 evicted: node0 in a cluster of 2", func() error { return g.WaitSynced(ctx, 0, 2) })
	dbtest.Exec(t, db0, "INSERT INTO rs_galera VALUES (2)")

	step(t, "lose quorum: kill node1 too", func() error { return g.LoseQuorum(0) })
	step(t, "node0 non-Primary", func() error { return g.WaitStatus(ctx, 0, "non-Primary") })
	fresh := openDB(t, "mysql", g.DSN(0))
	if err := fresh.PingContext(ctx); err != nil {
		t.Errorf("a new connection to the node without quorum: %v, want it accepted", err)
	}
	if err := fresh.QueryRowContext(ctx, "SELECT count(*) FROM rs_galera").Scan(&got); mysqlErrno(err) != 1047 {
		t.Errorf("a SELECT without quorum: %v, want error 1047", err)
	}
	if _, err := db0.ExecContext(ctx, "INSERT INTO rs_galera VALUES (3)"); mysqlErrno(err) != 1047 {
		t.Errorf("an INSERT without quorum: %v, want error 1047", err)
	}
	step(t, "bootstrap node0 alone", func() error { return g.Bootstrap(ctx, 0) })
	dbtest.Exec(t, db0, "INSERT INTO rs_galera VALUES (4)")
}
