package integration_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// The behaviours the rebuild of the root package changed, on the real
// servers (issue "One loop, a plain driver layer").

// TestFirstRowErrorRetriedOnMariaDB: MariaDB sends an error raised while
// computing the first row after the column definitions; the first row is
// read inside the retry loop, so the deadlock a function signals is
// retried, with and without arguments (go-sql-driver then prepares).
func TestFirstRowErrorRetriedOnMariaDB(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.OpenMySQL(t)
	db := openRetry(t, retrysql.DriverMySQL, dbtest.MySQLDSN(t))
	for _, tc := range []struct{ name, query string }{
		{"rs_first_row", "SELECT rs_first_row()"},
		{"rs_first_row_args", "SELECT rs_first_row_args() + ?"},
	} {
		flakyMySQL(t, admin, tc.name, 1213, 3, "40001", "Deadlock found when trying to get lock; try restarting transaction")
		var args []any
		if tc.name == "rs_first_row_args" {
			args = []any{0}
		}
		var n int64
		if err := db.QueryRowContext(ctx, tc.query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		if n != 4 {
			t.Fatalf("%s: succeeded on call %d, want 4 (3 failures, then success)", tc.query, n)
		}
	}
	if st := retrierStats(t, db); st.RetriesByCode["1213"] != 6 {
		t.Fatalf("stats %+v", st)
	}
}

// TestStalePreparedStatementOnPostgres: after a schema change, a statement
// the application prepared fails with 0A000 at once (a retry would run the
// same stale statement), while a plain query, which pgx prepares afresh
// after the error, is retried and succeeds.
func TestStalePreparedStatementOnPostgres(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.OpenPostgres(t)
	dbtest.Exec(t, admin, "DROP TABLE IF EXISTS rs_stale", "CREATE TABLE rs_stale (a int)", "INSERT INTO rs_stale VALUES (1)")
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS rs_stale") })
	db := openRetry(t, retrysql.DriverPgx, dbtest.PostgresDSN(t))
	db.SetMaxOpenConns(1) // one connection: its statements are the stale ones
	stmt, err := db.PrepareContext(ctx, "SELECT * FROM rs_stale")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	rows, err := db.QueryContext(ctx, "SELECT a FROM rs_stale WHERE a > 0")
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	dbtest.Exec(t, admin, "ALTER TABLE rs_stale ALTER COLUMN a TYPE bigint")

	start := time.Now()
	_, err = stmt.QueryContext(ctx)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "0A000" || retrysql.Attempts(err) != 1 {
		t.Fatalf("prepared statement: %v after %d attempts", err, retrysql.Attempts(err))
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("the stale statement took %v: retried in vain", time.Since(start))
	}
	var a int64
	if err := db.QueryRowContext(ctx, "SELECT a FROM rs_stale WHERE a > 0").Scan(&a); err != nil || a != 1 {
		t.Fatalf("plain query: %d, %v", a, err)
	}
	if n := retrierStats(t, db).RetriesByCode["0A000"]; n != 1 {
		t.Fatalf("%d retries of 0A000, want 1 (the plain query's)", n)
	}
}

// TestContextCancelBeginThroughWrapper follows go-sql-driver/mysql's
// TestContextCancelBegin through retry+mysql: a transaction of a *sql.Conn
// cancelled by its context leaves the connection unusable, and BEGIN on it
// then returns driver.ErrBadConn itself.
func TestContextCancelBeginThroughWrapper(t *testing.T) {
	admin := dbtest.OpenMySQL(t)
	dbtest.Exec(t, admin, "DROP TABLE IF EXISTS rs_cancel_begin", "CREATE TABLE rs_cancel_begin (v INTEGER)")
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS rs_cancel_begin") })
	db := openRetry(t, retrysql.DriverMySQL, dbtest.MySQLDSN(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer time.AfterFunc(100*time.Millisecond, cancel).Stop()
	start := time.Now()
	if _, err := tx.ExecContext(ctx, "INSERT INTO rs_cancel_begin VALUES (SLEEP(1))"); err != context.Canceled {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("the cancelled statement took %v", d)
	}
	if err := tx.Commit(); err != sql.ErrTxDone && err != context.Canceled {
		t.Errorf("Commit: %v, want sql.ErrTxDone or context.Canceled", err)
	}
	start = time.Now()
	_, err = conn.BeginTx(context.Background(), &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != driver.ErrBadConn {
		t.Errorf("BEGIN on the dead connection: %v (%T), want driver.ErrBadConn", err, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("BEGIN on the dead connection took %v: it waited for a retry", d)
	}
}

// TestTerminatedIdleBackendIsNotAmbiguous: pg_terminate_backend of an idle
// pooled connection leaves its FATAL 57P01 waiting on the socket; the next
// statement would read it and could not tell whether it ran. retrysql
// notices the waiting FATAL when database/sql hands the connection out
// again, before anything is sent: the INSERT runs once, on a new
// connection, and no error reaches the application.
func TestTerminatedIdleBackendIsNotAmbiguous(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.OpenPostgres(t)
	dbtest.Exec(t, admin, "DROP TABLE IF EXISTS rs_terminated", "CREATE TABLE rs_terminated (id int)")
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS rs_terminated") })
	db := openRetry(t, retrysql.DriverPgx, dbtest.PostgresDSN(t))
	db.SetMaxOpenConns(1)
	for i := range 5 {
		var pid int
		if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		dbtest.Exec(t, admin, "SELECT pg_terminate_backend("+strconv.Itoa(pid)+")")
		deadline := time.Now().Add(5 * time.Second)
		for n := 1; n > 0 && time.Now().Before(deadline); {
			admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n)
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO rs_terminated VALUES ($1)", i); err != nil {
			t.Fatalf("insert %d after the backend was terminated: %v", i, err)
		}
	}
	var n int
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM rs_terminated").Scan(&n); err != nil || n != 5 {
		t.Fatalf("%d rows, %v", n, err)
	}
}
