package retrysql_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// Regression tests of the bugs the rebuild of the root package fixed, one
// per bug (issue "One loop, a plain driver layer").

var deadlock = &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}

// TestFirstRowErrorIsRetried: MySQL reports an error raised while the
// server computes the first row after the column definitions, so it
// surfaces in rows.Next; the first row is read inside the retry loop, and
// the error retried like any other.
func TestFirstRowErrorIsRetried(t *testing.T) {
	d := newFake(nil)
	d.firstRow = func(query string, n int) error {
		if n <= 2 {
			return deadlock
		}
		return nil
	}
	db := openFake(t, d)
	var x int64
	if err := db.QueryRowContext(t.Context(), "SELECT x FROM t").Scan(&x); err != nil || x != 42 {
		t.Fatalf("got %d, %v", x, err)
	}
	if n := d.count("query", "SELECT x FROM t"); n != 3 {
		t.Fatalf("%d queries, want 3", n)
	}
	// The same for a prepared statement.
	s, err := db.PrepareContext(t.Context(), "SELECT y FROM t")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.QueryRowContext(t.Context()).Scan(&x); err != nil || d.count("stmt-query", "SELECT y FROM t") != 3 {
		t.Fatalf("prepared: %v after %d queries", err, d.count("stmt-query", "SELECT y FROM t"))
	}
	// Inside a transaction nothing is retried: the error reaches the rows.
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(t.Context(), "SELECT z FROM t").Scan(&x)
	if err != deadlock || d.count("query", "SELECT z FROM t") != 1 {
		t.Fatalf("in a transaction: %v after %d queries", err, d.count("query", "SELECT z FROM t"))
	}
	// Rows with no first row are not an error.
	d.firstRow = nil
	rows, err := db.QueryContext(t.Context(), "SELECT x FROM t")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if rows.Close(); n != 1 || rows.Err() != nil {
		t.Fatalf("%d rows, %v", n, rows.Err())
	}
}

// TestStalePreparedStatementIsNotRetried: "cached plan must not change
// result type" is retried only where the next attempt prepares afresh;
// for a statement the application prepared (and, with pgx, any statement
// run under the text of one) the next attempt would fail the same way.
func TestStalePreparedStatementIsNotRetried(t *testing.T) {
	stale := &pgconn.PgError{Code: "0A000", Message: "cached plan must not change result type"}
	d := newFake(func(op, q string, n int) error {
		if op == "stmt-query" || op == "query" && q == "SELECT * FROM prepared" || op == "query" && q == "SELECT * FROM t" && n == 1 {
			return stale
		}
		return nil
	})
	db := openFake(t, d)
	s, err := db.PrepareContext(t.Context(), "SELECT * FROM prepared")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.QueryContext(t.Context()); err != stale || d.count("stmt-query", "SELECT * FROM prepared") != 1 {
		t.Fatalf("*sql.Stmt: %v after %d attempts", err, d.count("stmt-query", "SELECT * FROM prepared"))
	}
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cs, err := conn.PrepareContext(t.Context(), "SELECT * FROM prepared")
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := conn.QueryContext(t.Context(), "SELECT * FROM prepared"); err != stale || d.count("query", "SELECT * FROM prepared") != 1 {
		t.Fatalf("query under a prepared text: %v after %d attempts", err, d.count("query", "SELECT * FROM prepared"))
	}
	rows, err := db.QueryContext(t.Context(), "SELECT * FROM t")
	if err != nil || d.count("query", "SELECT * FROM t") != 2 {
		t.Fatalf("plain query: %v after %d attempts, want a retry", err, d.count("query", "SELECT * FROM t"))
	}
	rows.Close()
	// In Do, which retries the statements it runs: not retried either.
	r, _ := retrysql.NewRetrier(fastOptions...)
	before := d.count("stmt-query", "SELECT * FROM prepared")
	err = retrysql.Do(t.Context(), r, func(ctx context.Context) error {
		_, err := s.QueryContext(ctx)
		return err
	})
	if !errors.Is(err, stale) || d.count("stmt-query", "SELECT * FROM prepared")-before != 1 {
		t.Fatalf("Do: %v after %d attempts", err, d.count("stmt-query", "SELECT * FROM prepared")-before)
	}
	// In RunInTx: not replayed when the statement was prepared.
	var runs atomic.Int32
	err = retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		runs.Add(1)
		_, err := tx.StmtContext(ctx, s).QueryContext(ctx)
		return err
	})
	if !errors.Is(err, stale) || runs.Load() != 1 {
		t.Fatalf("RunInTx with a prepared statement: %v after %d runs", err, runs.Load())
	}
}

// TestZeroAdmissionController: the zero Controller works in WithAdmission.
func TestZeroAdmissionController(t *testing.T) {
	var ctl admission.Controller
	d := newFake(failN("exec", "UPDATE credit", 1, serialization))
	db := openFake(t, d, retrysql.WithAdmission(&ctl))
	var runs atomic.Int32
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs)); err != nil || runs.Load() != 2 {
		t.Fatalf("%v after %d runs", err, runs.Load())
	}
	if s := ctl.Snapshot(); s.Admitted != 2 || s.Inflight != 0 {
		t.Fatalf("snapshot %+v", s)
	}
}

// TestFnThatCommitsIsNotReplayed: fn must not commit; when it does, RunInTx
// says what happened and never replays.
func TestFnThatCommitsIsNotReplayed(t *testing.T) {
	d := newFake(nil)
	db := openFake(t, d)
	var runs atomic.Int32
	err := retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		runs.Add(1)
		if _, err := tx.ExecContext(ctx, "UPDATE t"); err != nil {
			return err
		}
		return tx.Commit()
	})
	if !errors.Is(err, retrysql.ErrTxEndedByFn) || !strings.Contains(err.Error(), "committed") || runs.Load() != 1 || d.count("commit", "") != 1 {
		t.Fatalf("%v after %d runs, %d COMMITs", err, runs.Load(), d.count("commit", ""))
	}
	// fn commits, then fails with a retryable error: not replayed either.
	runs.Store(0)
	err = retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		runs.Add(1)
		tx.Commit()
		return serialization
	})
	if !errors.Is(err, retrysql.ErrTxEndedByFn) || !errors.Is(err, serialization) || runs.Load() != 1 {
		t.Fatalf("commit then a conflict: %v after %d runs", err, runs.Load())
	}
	// fn rolls back and returns nil: nothing was committed, and RunInTx says so.
	err = retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error { return tx.Rollback() })
	if !errors.Is(err, retrysql.ErrTxEndedByFn) || !strings.Contains(err.Error(), "rolled the transaction back") {
		t.Fatalf("rollback by fn: %v", err)
	}
}

// TestMaxAttemptsOneIsUnwrapped: with retries off a failure comes back as
// it is, and Stats.Retries never exceeds the attempts after the first, not
// even when the wait before a retry is cut short.
func TestMaxAttemptsOneIsUnwrapped(t *testing.T) {
	d := newFake(failN("exec", "UPDATE t", 100, lockWait))
	db := openFake(t, d, retrysql.WithMaxAttempts(1))
	if _, err := db.ExecContext(t.Context(), "UPDATE t"); err != lockWait {
		t.Fatalf("got %v (%T), want the driver's error", err, err)
	}
	r, _ := retrysql.NewRetrier(retrysql.WithStrategy(classify.Transient, strategy.Fixed{Interval: time.Hour}))
	ctx, cancel := context.WithCancel(t.Context())
	err := retrysql.Do(ctx, r, func(context.Context) error {
		time.AfterFunc(10*time.Millisecond, cancel)
		return lockWait
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if st := r.Stats(); st.Attempts != 1 || st.Retries != 0 {
		t.Fatalf("stats %+v: a retry that was never made was counted", st)
	}
}

// TestSwallowedPermanentErrorIsReturned: fn swallows a statement error,
// PostgreSQL then reports the transaction rolled back at COMMIT; RunInTx
// returns the statement's error, not "commit unexpectedly resulted in
// rollback".
func TestSwallowedPermanentErrorIsReturned(t *testing.T) {
	d := newFake(func(op, q string, n int) error {
		switch {
		case op == "exec" && q == "INSERT dup":
			return uniqueViolate
		case op == "commit":
			return pgx.ErrTxCommitRollback
		}
		return nil
	})
	db := openFake(t, d)
	err := retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		tx.ExecContext(ctx, "INSERT dup") // swallowed
		_, err := tx.ExecContext(ctx, "UPDATE t")
		return err
	})
	if err != uniqueViolate {
		t.Fatalf("got %v, want the statement's error", err)
	}
}
