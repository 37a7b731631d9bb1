package integration_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// TestGaleraHostListSkipsNotReady: a Galera node cut off from the others
// (a real partition: gmcast.isolate) is out of the primary component: it
// accepts connections, answers writes with 1047, and reads of variables
// as usual but wsrep_ready = OFF. With a list of hosts and
// targetSessionAttrs=read-write, retrysql's connect skips it for a node of
// the primary component (its check reads wsrep_ready = OFF; a node that
// answers the check itself with 1047 is TestMySQLHostListSkips1047);
// without targetSessionAttrs, the first host serves and writes get 1047.
// Once the partition ends, the node serves again.
func TestGaleraHostListSkipsNotReady(t *testing.T) {
	dbtest.SlowClusters(t)
	keepMachineServers(t)
	g := dbtest.StartGalera(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	port := func(n int) int { return g.Node(n).Port() }
	list := fmt.Sprintf("%s:%s@tcp(%s,%s,%s)/test", dbtest.AppUser, dbtest.AppPassword, g.Node(0).Addr(), g.Node(1).Addr(), g.Node(2).Addr())
	const writer = "?targetSessionAttrs=read-write"
	dbtest.Exec(t, openDB(t, "mysql", g.DSN(0)), "CREATE TABLE rs_galera_hosts (id INT AUTO_INCREMENT PRIMARY KEY, port INT NOT NULL)")

	// served writes through a fresh retrysql handle on dsn and returns the
	// port of the node that took the write.
	served := func(dsn string, opts ...retrysql.Option) (int, error) {
		db, err := retrysql.Open("mysql", dsn, opts...)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		conn, err := db.Conn(ctx)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "INSERT INTO rs_galera_hosts (port) VALUES (@@port)"); err != nil {
			return 0, err
		}
		var p int
		err = conn.QueryRowContext(ctx, "SELECT @@port").Scan(&p)
		return p, err
	}
	want := func(what, dsn string, want int) {
		t.Helper()
		got, err := served(dsn)
		if err != nil || got != want {
			t.Errorf("%s: served by port %d (%v), want %d", what, got, err, want)
		}
	}

	want("every node ready", list+writer, port(0))

	step(t, "isolate node0 (gmcast.isolate=1): non-Primary", func() error { return g.Isolate(ctx, 0, true) })
	step(t, "node1 and node2 evict it", func() error { return g.WaitSynced(ctx, 1, 2) })
	raw := openDB(t, "mysql", g.DSN(0))
	if err := raw.PingContext(ctx); err != nil {
		t.Fatalf("a new connection to the isolated node: %v, want it accepted", err)
	}
	if _, err := raw.ExecContext(ctx, "INSERT INTO rs_galera_hosts (port) VALUES (0)"); mysqlErrno(err) != 1047 {
		t.Errorf("a write on the isolated node: %v, want error 1047", err)
	}
	// What the check reads there: a SELECT that touches no table is
	// answered (read_only 0), and wsrep_ready is OFF.
	var ro, name, ready string
	if err := raw.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&ro); err != nil || ro != "0" {
		t.Errorf("SELECT @@global.read_only on the isolated node: %q (%v), want 0", ro, err)
	}
	if err := raw.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'wsrep_ready'").Scan(&name, &ready); err != nil || ready != "OFF" {
		t.Errorf("wsrep_ready on the isolated node: %q (%v), want OFF", ready, err)
	}
	want("node0 not ready (wsrep_ready OFF)", list+writer, port(1))

	// Without targetSessionAttrs the first host serves, and a write there
	// is refused (retried on a fresh connection, to the same node).
	if _, err := served(list, retrysql.WithMaxAttempts(2)); mysqlErrno(err) != 1047 {
		t.Errorf("without targetSessionAttrs: %v, want error 1047 from node0", err)
	}

	step(t, "end the partition: node0 Synced again", func() error { return g.Isolate(ctx, 0, false) })
	want("node0 back", list+writer, port(0))

	var rows int
	if err := openDB(t, "mysql", g.DSN(1)+"?wsrep_sync_wait=1").QueryRowContext(ctx,
		"SELECT count(*) FROM rs_galera_hosts WHERE port = ?", port(0)).Scan(&rows); err != nil || rows != 2 {
		t.Errorf("node0 took %d writes (%v), want 2: before the partition and after it", rows, err)
	}
}
