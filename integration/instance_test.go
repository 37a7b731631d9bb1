package integration_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/retrysql/retrysql/integration/dbtest"
)

// The machine's own servers, which a test may use but never restart or
// reconfigure.
type machineServers struct {
	pgStart  time.Time // pg_postmaster_start_time()
	myUptime int64     // MariaDB's Uptime, in seconds
	pg, my   bool      // reachable
}

func readMachineServers(t *testing.T) machineServers {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var m machineServers
	if db, err := sql.Open("pgx", dbtest.DefaultPostgresDSN); err == nil {
		m.pg = db.QueryRowContext(ctx, "SELECT pg_postmaster_start_time()").Scan(&m.pgStart) == nil
		db.Close()
	}
	if db, err := sql.Open("mysql", dbtest.DefaultMySQLDSN); err == nil {
		var name string
		m.my = db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Uptime'").Scan(&name, &m.myUptime) == nil
		db.Close()
	}
	return m
}

func TestInstances(t *testing.T) {
	before := readMachineServers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, tc := range []struct {
		name   string
		start  func(testing.TB) *dbtest.Instance
		prefix string // of the DSN
		create string
		insert string
		port   string // the query answering the server's port
	}{
		{"postgres", dbtest.StartPostgres, "postgres://postgres@127.0.0.1:",
			"CREATE TABLE rs_instance (id INT PRIMARY KEY, v TEXT NOT NULL)",
			"INSERT INTO rs_instance (id, v) VALUES (1, 'kept')", "SELECT current_setting('port')"},
		{"mariadb", dbtest.StartMariaDB, "root@tcp(127.0.0.1:",
			"CREATE TABLE rs_instance (id INT PRIMARY KEY, v TEXT NOT NULL)",
			"INSERT INTO rs_instance (id, v) VALUES (1, 'kept')", "SELECT @@port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Now()
			inst := tc.start(t)
			t.Logf("%s instance at %s up in %v", tc.name, inst.Addr(), time.Since(t0).Round(time.Millisecond))
			if !strings.HasPrefix(inst.DSN(), tc.prefix) || !strings.HasPrefix(inst.Addr(), "127.0.0.1:") {
				t.Fatalf("DSN %q, Addr %q", inst.DSN(), inst.Addr())
			}
			if port := strings.TrimPrefix(inst.Addr(), "127.0.0.1:"); port == "5432" || port == "3306" {
				t.Fatalf("the instance took the machine's port %s", port)
			}
			db := inst.Open(t)
			var port string
			if err := db.QueryRowContext(ctx, tc.port).Scan(&port); err != nil {
				t.Fatal(err)
			}
			if inst.Addr() != "127.0.0.1:"+port {
				t.Fatalf("connected to port %s, not to the instance at %s", port, inst.Addr())
			}
			dbtest.Exec(t, db, tc.create, tc.insert)

			// A session open across the restart is ended by it.
			held, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			if err := held.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			t1 := time.Now()
			if err := inst.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("restarted in %v", time.Since(t1).Round(time.Millisecond))
			if _, err := held.ExecContext(ctx, "SELECT 1"); err == nil {
				t.Error("a session opened before the restart still works after it")
			}
			held.Close()
			var v string
			if err := db.QueryRowContext(ctx, "SELECT v FROM rs_instance WHERE id = 1").Scan(&v); err != nil {
				t.Fatal(err)
			}
			if v != "kept" {
				t.Fatalf("read %q after the restart, want %q", v, "kept")
			}

			// Stopped, then started again on the same port with the same data.
			if err := inst.Stop(); err != nil {
				t.Fatal(err)
			}
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			err = db.PingContext(pctx)
			pcancel()
			if err == nil {
				t.Fatal("the stopped instance still answers")
			}
			if err := inst.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowContext(ctx, "SELECT v FROM rs_instance WHERE id = 1").Scan(&v); err != nil || v != "kept" {
				t.Fatalf("after Stop and Start: %q, %v", v, err)
			}
		})
	}

	after := readMachineServers(t)
	switch {
	case !before.pg || !after.pg:
		t.Logf("the machine's PostgreSQL at %s is not reachable: not checked", dbtest.DefaultPostgresDSN)
	case !after.pgStart.Equal(before.pgStart):
		t.Errorf("the machine's PostgreSQL restarted: started at %v, now at %v", before.pgStart, after.pgStart)
	}
	switch {
	case !before.my || !after.my:
		t.Logf("the machine's MariaDB at %s is not reachable: not checked", dbtest.DefaultMySQLDSN)
	case after.myUptime < before.myUptime:
		t.Errorf("the machine's MariaDB restarted: uptime %ds, then %ds", before.myUptime, after.myUptime)
	}
}
