package retrysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// transfer is a transaction of two statements; it counts its runs.
func transfer(runs *atomic.Int32) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		runs.Add(1)
		if _, err := tx.ExecContext(ctx, "UPDATE debit"); err != nil {
			return fmt.Errorf("debit: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE credit"); err != nil {
			return fmt.Errorf("credit: %w", err)
		}
		return nil
	}
}

func TestRunInTxReplaysAbortedTransaction(t *testing.T) {
	d := newFake(failN("exec", "UPDATE credit", 2, serialization))
	db := openFake(t, d)
	var runs atomic.Int32
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs)); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 3 || d.count("rollback", "") != 2 || d.count("commit", "") != 1 || d.count("begin", "") != 3 {
		t.Fatalf("%d runs; statements %s", runs.Load(), d)
	}
	// The rollback comes before the next BEGIN: no lock is held while
	// waiting.
	want := "[begin  exec UPDATE debit exec UPDATE credit rollback  begin  exec UPDATE debit exec UPDATE credit rollback  begin  exec UPDATE debit exec UPDATE credit commit ]"
	if got := d.String(); !strings.HasSuffix(got, want) {
		t.Fatalf("statements %s", got)
	}
	st := stats(t, db)
	if st.ByClass[classify.TxAborted].Retries != 2 || st.RetriesByCode["40001"] != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRunInTxReplaysConflictAtCommit(t *testing.T) {
	d := newFake(failN("commit", "", 1, &pgconn.PgError{Code: "40001", Message: "could not serialize access due to read/write dependencies among transactions"}))
	db := openFake(t, d)
	var runs atomic.Int32
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs)); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 2 || d.count("commit", "") != 2 {
		t.Fatalf("%d runs, %s", runs.Load(), d)
	}
}

func TestRunInTxLostCommitIsAmbiguous(t *testing.T) {
	lost := failN("commit", "", 1, io.ErrUnexpectedEOF)
	d := newFake(lost)
	db := openFake(t, d)
	var runs atomic.Int32
	err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs))
	if !errors.Is(err, retrysql.ErrAmbiguousCommit) || !errors.Is(err, io.ErrUnexpectedEOF) || runs.Load() != 1 {
		t.Fatalf("got %v after %d runs", err, runs.Load())
	}
	if errors.Is(err, retrysql.ErrAmbiguous) {
		t.Fatal("an ambiguous commit also matches ErrAmbiguous")
	}
	// Declared idempotent, per call or by context, or read-only: replayed.
	for name, run := range map[string]func(*sql.DB, *atomic.Int32) error{
		"option": func(db *sql.DB, runs *atomic.Int32) error {
			return retrysql.RunInTx(t.Context(), db, nil, transfer(runs), retrysql.WithIdempotent())
		},
		"context": func(db *sql.DB, runs *atomic.Int32) error {
			return retrysql.RunInTx(retrysql.Idempotent(t.Context()), db, nil, transfer(runs))
		},
		"read-only": func(db *sql.DB, runs *atomic.Int32) error {
			return retrysql.RunInTx(t.Context(), db, &sql.TxOptions{ReadOnly: true}, transfer(runs))
		},
	} {
		d := newFake(lost)
		db := openFake(t, d)
		var runs atomic.Int32
		if err := run(db, &runs); err != nil || runs.Load() != 2 {
			t.Errorf("%s: %v after %d runs", name, err, runs.Load())
		}
	}
}

func TestRunInTxReplaysLostConnectionBeforeCommit(t *testing.T) {
	d := newFake(failN("exec", "UPDATE debit", 1, io.ErrUnexpectedEOF))
	db := openFake(t, d)
	var runs atomic.Int32
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs)); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 2 || d.opens != 2 {
		t.Fatalf("%d runs on %d connections", runs.Load(), d.opens)
	}
}

func TestRunInTxPermanentErrorReturnedAsIs(t *testing.T) {
	d := newFake(failN("exec", "UPDATE credit", 1, uniqueViolate))
	db := openFake(t, d)
	var runs atomic.Int32
	err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe != uniqueViolate || err.Error() != "credit: "+uniqueViolate.Error() {
		t.Fatalf("got %v, want fn's error as it is", err)
	}
	if runs.Load() != 1 || d.count("rollback", "") != 1 || d.count("commit", "") != 0 {
		t.Fatalf("%d runs, %s", runs.Load(), d)
	}
}

func TestRunInTxPanicRollsBackAndPanicsOn(t *testing.T) {
	d := newFake(nil)
	db := openFake(t, d)
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v", p)
		}
		if d.count("rollback", "") != 1 || d.count("commit", "") != 0 {
			t.Fatalf("statements %s", d)
		}
	}()
	retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		tx.ExecContext(ctx, "UPDATE debit")
		panic("boom")
	})
}

func TestRunInTxSwallowedAbortIsNotCommitted(t *testing.T) {
	d := newFake(failN("exec", "UPDATE debit", 1, &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}))
	db := openFake(t, d)
	var runs atomic.Int32
	err := retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		runs.Add(1)
		tx.ExecContext(ctx, "UPDATE debit") // error swallowed
		_, err := tx.ExecContext(ctx, "UPDATE credit")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first attempt's transaction was rolled back by the server: it is
	// not committed but replayed.
	if runs.Load() != 2 || d.count("commit", "") != 1 || d.count("rollback", "") != 1 {
		t.Fatalf("%d runs, %s", runs.Load(), d)
	}
}

func TestRunInTxDeadlineShorterThanBackoff(t *testing.T) {
	d := newFake(failN("exec", "UPDATE credit", 100, serialization))
	// Without admission, which would replay at once, paced by its permits.
	db := openFake(t, d, retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{Interval: time.Second}), retrysql.WithAdmission(nil))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	var runs atomic.Int32
	start := time.Now()
	err := retrysql.RunInTx(ctx, db, nil, transfer(&runs))
	if time.Since(start) > 150*time.Millisecond || runs.Load() != 1 {
		t.Fatalf("returned after %v and %d runs", time.Since(start), runs.Load())
	}
	var e *retrysql.Error
	if !errors.As(err, &e) || e.Reason != retrysql.ReasonDeadline || !errors.Is(err, serialization) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the last database error", err)
	}
}

func TestRunInTxReadOnlyWriteIsPermanent(t *testing.T) {
	readOnly := &pgconn.PgError{Code: "25006", Message: "cannot execute UPDATE in a read-only transaction"}
	d := newFake(failN("exec", "UPDATE debit", 5, readOnly))
	db := openFake(t, d)
	var runs atomic.Int32
	err := retrysql.RunInTx(t.Context(), db, &sql.TxOptions{ReadOnly: true}, transfer(&runs))
	if !errors.Is(err, readOnly) || runs.Load() != 1 {
		t.Fatalf("%v after %d runs", err, runs.Load())
	}
	// Outside a read-only transaction 25006 means a failover: replayed.
	d = newFake(failN("exec", "UPDATE debit", 1, readOnly))
	db = openFake(t, d)
	runs.Store(0)
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs)); err != nil || runs.Load() != 2 {
		t.Fatalf("%v after %d runs", err, runs.Load())
	}
}

func TestRunInTxOnConnAndOtherHandles(t *testing.T) {
	// A *sql.Conn of a retrysql handle uses the handle's Retrier.
	d := newFake(failN("exec", "UPDATE credit", 1, serialization))
	db := openFake(t, d)
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var runs atomic.Int32
	if err := retrysql.RunInTx(t.Context(), conn, nil, transfer(&runs)); err != nil || runs.Load() != 2 {
		t.Fatalf("*sql.Conn: %v after %d runs", err, runs.Load())
	}
	if stats(t, db).RetriesByCode["40001"] != 1 {
		t.Fatal("the replay was not counted by the handle")
	}
	// A handle that is not retrysql's: the shared default Retrier, or one
	// given by WithRetrier.
	name := fmt.Sprintf("fake-plain-tx-%d", registrations.Add(1))
	plain := newFake(failN("exec", "UPDATE credit", 1, serialization))
	sql.Register(name, plain)
	raw, err := sql.Open(name, "")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	runs.Store(0)
	mine, _ := retrysql.NewRetrier(retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{}))
	if err := retrysql.RunInTx(t.Context(), raw, nil, transfer(&runs), retrysql.WithRetrier(mine)); err != nil || runs.Load() != 2 {
		t.Fatalf("plain handle: %v after %d runs", err, runs.Load())
	}
	if mine.Stats().Retries != 1 {
		t.Fatalf("WithRetrier not used: %+v", mine.Stats())
	}
}

func TestRunInTxValue(t *testing.T) {
	d := newFake(failN("query", "SELECT balance", 1, serialization))
	db := openFake(t, d)
	v, err := retrysql.RunInTxValue(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) (int64, error) {
		var b int64
		err := tx.QueryRowContext(ctx, "SELECT balance").Scan(&b)
		return b, err
	})
	if err != nil || v != 42 {
		t.Fatalf("%d, %v", v, err)
	}
}

// TestRunInTxSqlmockSequence checks the exact statements: BEGIN, ...,
// ROLLBACK, BEGIN, ..., COMMIT.
func TestRunInTxSqlmockSequence(t *testing.T) {
	db, mock := openMock(t)
	deadlock := &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}
	mock.ExpectBegin()
	mock.ExpectExec("UPDATE debit").WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectExec("UPDATE credit").WillReturnError(deadlock)
	mock.ExpectRollback()
	mock.ExpectBegin()
	mock.ExpectExec("UPDATE debit").WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectExec("UPDATE credit").WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectCommit()
	var runs atomic.Int32
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs)); err != nil {
		t.Fatal(err)
	}
}
