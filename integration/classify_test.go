package integration_test

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// expect classifies err and checks the class and, when given, the code.
func expect(t *testing.T, err error, class classify.Class, codes ...string) classify.Result {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %v", class)
	}
	res := classify.Default.Classify(err)
	t.Logf("%T %v → %v", err, err, res)
	if res.Class != class {
		t.Fatalf("classified %v as %v, want %v", err, res, class)
	}
	if len(codes) > 0 {
		ok := false
		for _, c := range codes {
			ok = ok || res.Code == c
		}
		if !ok {
			t.Fatalf("code %q, want one of %v", res.Code, codes)
		}
	}
	return res
}

func TestPostgresErrorsAreClassified(t *testing.T) {
	db := dbtest.OpenPostgres(t)
	ctx := context.Background()

	t.Run("deadlock", func(t *testing.T) {
		tbl := table(t, db, "rs_pg_deadlock")
		s := sessions(t, db, 2)
		dbtest.Exec(t, s[0], "SET deadlock_timeout = '50ms'")
		dbtest.Exec(t, s[1], "SET deadlock_timeout = '50ms'")
		expect(t, deadlock(t, s[0], s[1], tbl), classify.TxAborted, "40P01")
	})

	t.Run("serialization failure", func(t *testing.T) {
		tbl := table(t, db, "rs_pg_serialization")
		s := sessions(t, db, 2)
		tx, err := s[0].BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var v int
		if err := tx.QueryRowContext(ctx, "SELECT v FROM "+tbl+" WHERE id = 1").Scan(&v); err != nil {
			t.Fatal(err)
		}
		dbtest.Exec(t, s[1], "UPDATE "+tbl+" SET v = v + 1 WHERE id = 1")
		_, err = tx.ExecContext(ctx, "UPDATE "+tbl+" SET v = v + 1 WHERE id = 1")
		expect(t, err, classify.TxAborted, "40001")
	})

	t.Run("serializable write skew", func(t *testing.T) {
		tbl := table(t, db, "rs_pg_skew")
		s := sessions(t, db, 2)
		opts := &sql.TxOptions{Isolation: sql.LevelSerializable}
		txA, err := s[0].BeginTx(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer txA.Rollback()
		txB, err := s[1].BeginTx(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer txB.Rollback()
		var sum int
		for _, tx := range []*sql.Tx{txA, txB} {
			if err := tx.QueryRowContext(ctx, "SELECT sum(v) FROM "+tbl).Scan(&sum); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := txA.ExecContext(ctx, "UPDATE "+tbl+" SET v = v + 1 WHERE id = 1"); err != nil {
			t.Fatal(err)
		}
		if _, err := txB.ExecContext(ctx, "UPDATE "+tbl+" SET v = v + 1 WHERE id = 2"); err != nil {
			t.Fatal(err)
		}
		if err := txA.Commit(); err != nil {
			t.Fatal(err)
		}
		expect(t, txB.Commit(), classify.TxAborted, "40001") // raised by COMMIT itself
	})

	t.Run("NOWAIT and lock_timeout", func(t *testing.T) {
		tbl := table(t, db, "rs_pg_nowait")
		s := sessions(t, db, 2)
		tx, err := s[0].BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "SELECT v FROM "+tbl+" WHERE id = 1 FOR UPDATE"); err != nil {
			t.Fatal(err)
		}
		_, err = s[1].ExecContext(ctx, "SELECT v FROM "+tbl+" WHERE id = 1 FOR UPDATE NOWAIT")
		expect(t, err, classify.Transient, "55P03")
		dbtest.Exec(t, s[1], "SET lock_timeout = '50ms'")
		_, err = s[1].ExecContext(ctx, "UPDATE "+tbl+" SET v = 1 WHERE id = 1")
		expect(t, err, classify.Transient, "55P03")
	})

	t.Run("terminated backend", func(t *testing.T) {
		s := sessions(t, db, 2)
		var pid int
		if err := s[0].QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		dbtest.Exec(t, s[1], "SELECT pg_terminate_backend("+itoa(pid)+")")
		waitFor(t, func() bool {
			var n int
			s[1].QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n)
			return n == 0
		})
		_, err := s[0].ExecContext(ctx, "SELECT 1")
		expect(t, err, classify.ConnLost)
	})

	t.Run("too many connections", func(t *testing.T) {
		dropRole := func() {
			db.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'rs_limited'")
			db.Exec("DROP ROLE IF EXISTS rs_limited")
		}
		dropRole()
		dbtest.Exec(t, db, "CREATE ROLE rs_limited LOGIN CONNECTION LIMIT 1")
		t.Cleanup(dropRole)
		limited := pgAs(t, "rs_limited")
		held, err := limited.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		_, err = limited.Conn(ctx)
		expect(t, err, classify.Transient, "53300")
	})

	t.Run("write in a read-only transaction", func(t *testing.T) {
		tbl := table(t, db, "rs_pg_readonly")
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		_, err = tx.ExecContext(ctx, "UPDATE "+tbl+" SET v = 1")
		expect(t, err, classify.Transient, "25006")
	})

	t.Run("never retried", func(t *testing.T) {
		tbl := table(t, db, "rs_pg_permanent")
		_, err := db.ExecContext(ctx, "INSERT INTO "+tbl+" (id, v) VALUES (1, 0)")
		expect(t, err, classify.Permanent, "23505")
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		dbtest.Exec(t, tx, "SET LOCAL statement_timeout = '50ms'")
		_, err = tx.ExecContext(ctx, "SELECT pg_sleep(5)")
		expect(t, err, classify.Permanent, "57014")
		_, err = tx.ExecContext(ctx, "SELECT 1")
		expect(t, err, classify.Permanent, "25P02")
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = db.ExecContext(cctx, "SELECT pg_sleep(5)")
		expect(t, err, classify.Permanent)
	})
}

func TestMySQLErrorsAreClassified(t *testing.T) {
	db := dbtest.OpenMySQL(t)
	ctx := context.Background()
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	mariadb := strings.Contains(version, "MariaDB")

	t.Run("deadlock", func(t *testing.T) {
		tbl := table(t, db, "rs_my_deadlock")
		s := sessions(t, db, 2)
		expect(t, deadlock(t, s[0], s[1], tbl), classify.TxAborted, "1213")
	})

	t.Run("snapshot isolation", func(t *testing.T) {
		if !mariadb {
			t.Skip("MySQL has no innodb_snapshot_isolation; it reports no serialization failure under REPEATABLE READ")
		}
		tbl := table(t, db, "rs_my_snapshot")
		s := sessions(t, db, 2)
		dbtest.Exec(t, s[0], "SET SESSION innodb_snapshot_isolation = ON")
		tx, err := s[0].BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var v int
		if err := tx.QueryRowContext(ctx, "SELECT v FROM "+tbl+" WHERE id = 1").Scan(&v); err != nil {
			t.Fatal(err)
		}
		dbtest.Exec(t, s[1], "UPDATE "+tbl+" SET v = v + 1 WHERE id = 1")
		_, err = tx.ExecContext(ctx, "UPDATE "+tbl+" SET v = v + 1 WHERE id = 1")
		expect(t, err, classify.TxAborted, "1020")
	})

	t.Run("lock wait timeout and NOWAIT", func(t *testing.T) {
		tbl := table(t, db, "rs_my_lockwait")
		s := sessions(t, db, 2)
		tx, err := s[0].BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "SELECT v FROM "+tbl+" WHERE id = 1 FOR UPDATE"); err != nil {
			t.Fatal(err)
		}
		_, err = s[1].ExecContext(ctx, "SELECT v FROM "+tbl+" WHERE id = 1 FOR UPDATE NOWAIT")
		expect(t, err, classify.Transient, "1205", "3572")
		dbtest.Exec(t, s[1], "SET SESSION innodb_lock_wait_timeout = 1")
		_, err = s[1].ExecContext(ctx, "UPDATE "+tbl+" SET v = 1 WHERE id = 1")
		expect(t, err, classify.Transient, "1205")
	})

	t.Run("killed connection", func(t *testing.T) {
		s := sessions(t, db, 3)
		var idle, busy int64
		if err := s[0].QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&idle); err != nil {
			t.Fatal(err)
		}
		if err := s[1].QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		// Killed while idle: the next statement finds the connection gone.
		dbtest.Exec(t, s[2], "KILL CONNECTION "+itoa(int(idle)))
		_, err := s[0].ExecContext(ctx, "SELECT 1")
		expect(t, err, classify.ConnLost)
		// Killed while a statement runs.
		errc := make(chan error, 1)
		go func() {
			_, err := s[1].ExecContext(ctx, "SELECT SLEEP(10)")
			errc <- err
		}()
		waitFor(t, func() bool {
			var n int
			s[2].QueryRowContext(ctx, "SELECT count(*) FROM information_schema.processlist WHERE id = ? AND info LIKE 'SELECT SLEEP%'", busy).Scan(&n)
			return n == 1
		})
		dbtest.Exec(t, s[2], "KILL CONNECTION "+itoa(int(busy)))
		expect(t, <-errc, classify.ConnLost)
	})

	t.Run("too many connections", func(t *testing.T) {
		db.Exec("DROP USER IF EXISTS 'rs_limited'@'%'")
		dbtest.Exec(t, db,
			"CREATE USER 'rs_limited'@'%' IDENTIFIED BY 'rs' WITH MAX_USER_CONNECTIONS 1",
			"GRANT SELECT ON *.* TO 'rs_limited'@'%'",
		)
		t.Cleanup(func() { db.Exec("DROP USER IF EXISTS 'rs_limited'@'%'") })
		limited := mysqlAs(t, "rs_limited", "rs")
		held, err := limited.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		_, err = limited.Conn(ctx)
		expect(t, err, classify.Transient, "1203", "1226")
	})

	t.Run("read-only transaction and read-only server", func(t *testing.T) {
		tbl := table(t, db, "rs_my_readonly")
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = tx.ExecContext(ctx, "UPDATE "+tbl+" SET v = 1")
		tx.Rollback()
		expect(t, err, classify.Permanent, "1792") // the application's own READ ONLY

		// A read-only server: a MariaDB of the test's own, since the
		// machine's server is never reconfigured. Root keeps writing under
		// read_only (READ_ONLY ADMIN), so the write comes from a user
		// without that privilege.
		inst := dbtest.StartMariaDB(t)
		root := inst.Open(t)
		roTbl := table(t, root, "rs_my_readonly_server")
		dbtest.Exec(t, root,
			"CREATE USER 'rs_writer'@'%' IDENTIFIED BY 'rs'",
			"GRANT SELECT, UPDATE ON test.* TO 'rs_writer'@'%'",
		)
		cfg, err := mysql.ParseDSN(inst.DSN())
		if err != nil {
			t.Fatal(err)
		}
		cfg.User, cfg.Passwd = "rs_writer", "rs"
		writer, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		defer writer.Close()
		if _, err := writer.ExecContext(ctx, "UPDATE "+roTbl+" SET v = 1"); err != nil {
			t.Fatalf("rs_writer cannot write before read_only: %v", err)
		}
		dbtest.Exec(t, root, "SET GLOBAL read_only = ON") // the instance's own
		_, err = writer.ExecContext(ctx, "UPDATE "+roTbl+" SET v = 2")
		res := expect(t, err, classify.Transient, "1290") // a replica, or the old writer after a failover
		if !res.ReadOnly {
			t.Errorf("1290 classified %v: ReadOnly is false", res)
		}
	})

	t.Run("never retried", func(t *testing.T) {
		tbl := table(t, db, "rs_my_permanent")
		_, err := db.ExecContext(ctx, "INSERT INTO "+tbl+" (id, v) VALUES (1, 0)")
		expect(t, err, classify.Permanent, "1062")
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = db.ExecContext(cctx, "SELECT SLEEP(5)")
		if errors.Is(err, context.DeadlineExceeded) || err != nil {
			expect(t, err, classify.Permanent)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
