package retrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// The examples run on flaky, a tiny in-memory driver defined at the end of
// this file: its statements succeed, except those it was told to fail,
// which fail with the given errors in turn (a deadlock the first time, say).

var deadlockError = &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}

// quick keeps the examples' waits short.
var quick = []retrysql.Option{
	retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{Interval: time.Millisecond}),
	retrysql.WithStrategy(classify.ConnLost, strategy.Fixed{Interval: time.Millisecond}),
}

func ExampleOpen() {
	flakyDriver.reset("UPDATE accounts SET balance = 0", deadlockError)
	if !slices.Contains(sql.Drivers(), "flaky") {
		sql.Register("flaky", flakyDriver) // a driver of your own, registered once
	}
	db, err := retrysql.Open("flaky", "", quick...)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	_, err = db.ExecContext(context.Background(), "UPDATE accounts SET balance = 0")
	fmt.Println(err, flakyDriver.count("UPDATE accounts SET balance = 0"))
	// Output: <nil> 2
}

func ExampleRegister() {
	flakyDriver.reset("UPDATE accounts SET balance = 0", deadlockError)
	if !slices.Contains(sql.Drivers(), "retry+flaky") {
		// Once, at start-up: a second Register of the name is refused.
		if err := retrysql.Register("retry+flaky", flakyDriver, quick...); err != nil {
			panic(err)
		}
	}
	db, err := sql.Open("retry+flaky", "")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	_, err = db.ExecContext(context.Background(), "UPDATE accounts SET balance = 0")
	fmt.Println(err, flakyDriver.count("UPDATE accounts SET balance = 0"))
	// Output: <nil> 2
}

func ExampleNewConnector() {
	d := newFlaky("UPDATE accounts SET balance = 0", deadlockError, deadlockError)
	c, err := retrysql.NewConnector(d.connector(), quick...)
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	_, err = db.ExecContext(context.Background(), "UPDATE accounts SET balance = 0")
	fmt.Println(err, d.count("UPDATE accounts SET balance = 0"))
	// Output: <nil> 3
}

func ExampleRetrierOf() {
	d := newFlaky("UPDATE accounts SET balance = 0", deadlockError, deadlockError)
	c, err := retrysql.NewConnector(d.connector(), quick...)
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), "UPDATE accounts SET balance = 0"); err != nil {
		panic(err)
	}
	r, _ := retrysql.RetrierOf(db)
	s := r.Stats()
	// Four attempts: the connect and three executions.
	fmt.Println(s.Attempts, s.Retries, s.ByClass[classify.TxAborted].Retries, s.RetriesByCode["1213"])
	// Output: 4 2 2 2
}

func ExampleRunInTx() {
	// The second statement deadlocks the first time.
	d := newFlaky("UPDATE accounts SET balance = balance + 10 WHERE id = 2", deadlockError)
	c, err := retrysql.NewConnector(d.connector(), quick...)
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()

	runs := 0
	err = retrysql.RunInTx(context.Background(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		runs++ // fn may run several times: keep outside effects idempotent
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance - 10 WHERE id = 1"); err != nil {
			return fmt.Errorf("debit: %w", err) // wrap with %w, so that RunInTx sees the cause
		}
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance + 10 WHERE id = 2"); err != nil {
			return fmt.Errorf("credit: %w", err)
		}
		return nil
	})
	fmt.Println(runs, err)
	// Output: 2 <nil>
}

func ExampleRunInTxValue() {
	d := newFlaky("SELECT balance FROM accounts WHERE id = 1", deadlockError)
	c, err := retrysql.NewConnector(d.connector(), quick...)
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()

	balance, err := retrysql.RunInTxValue(context.Background(), db, nil, func(ctx context.Context, tx *sql.Tx) (int64, error) {
		var b int64
		err := tx.QueryRowContext(ctx, "SELECT balance FROM accounts WHERE id = 1").Scan(&b)
		return b, err
	})
	fmt.Println(balance, err)
	// Output: 42 <nil>
}

func ExampleDo() {
	r, err := retrysql.NewRetrier(quick...)
	if err != nil {
		panic(err)
	}
	attempts := 0
	err = retrysql.Do(context.Background(), r, func(ctx context.Context) error {
		attempts++
		if attempts < 3 {
			return driver.ErrBadConn // nothing was sent: safe to retry
		}
		return nil
	})
	fmt.Println(attempts, err)
	// Output: 3 <nil>
}

func ExampleDo_ambiguous() {
	r, err := retrysql.NewRetrier()
	if err != nil {
		panic(err)
	}
	err = retrysql.Do(context.Background(), r, func(ctx context.Context) error {
		// The connection dropped while the request may have been running.
		return fmt.Errorf("insert order: %w", io.ErrUnexpectedEOF)
	})
	fmt.Println(errors.Is(err, retrysql.ErrAmbiguous), retrysql.Attempts(err))
	// Output: true 1
}

func ExampleDoValue() {
	r, err := retrysql.NewRetrier(quick...)
	if err != nil {
		panic(err)
	}
	calls := 0
	n, err := retrysql.DoValue(context.Background(), r, func(ctx context.Context) (int, error) {
		calls++
		if calls == 1 {
			return 0, deadlockError
		}
		return 7, nil
	})
	fmt.Println(n, err, retrysql.Attempts(err))
	// Output: 7 <nil> 0
}

func ExampleIdempotent() {
	r, err := retrysql.NewRetrier(quick...)
	if err != nil {
		panic(err)
	}
	calls := 0
	upsert := func(ctx context.Context) error {
		calls++
		if calls == 1 {
			return io.ErrUnexpectedEOF // lost after sending: may have run
		}
		return nil
	}
	// Running it twice is harmless: say so, and a lost connection is retried.
	err = retrysql.Do(retrysql.Idempotent(context.Background()), r, upsert)
	fmt.Println(calls, err)
	// Output: 2 <nil>
}

func ExampleWithIdempotentQueries() {
	// Queries ReadOnlyQuery accepts are retried after a lost connection.
	for _, q := range []string{
		"SELECT balance FROM accounts WHERE id = 1",
		"/* report */ WITH t AS (SELECT 1) SELECT * FROM t",
		"SELECT id FROM jobs FOR UPDATE SKIP LOCKED",
		"SELECT nextval('ids')",
		"INSERT INTO log VALUES (1)",
	} {
		fmt.Println(retrysql.ReadOnlyQuery(q), q)
	}
	// The connection drops while the first query runs.
	d := newFlaky("SELECT balance FROM accounts WHERE id = 1", io.ErrUnexpectedEOF)
	opts := append([]retrysql.Option{retrysql.WithIdempotentQueries(retrysql.ReadOnlyQuery)}, quick...)
	c, err := retrysql.NewConnector(d.connector(), opts...)
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	var balance int64
	err = db.QueryRowContext(context.Background(), "SELECT balance FROM accounts WHERE id = 1").Scan(&balance)
	fmt.Println(balance, err, d.count("SELECT balance FROM accounts WHERE id = 1"))
	// Output:
	// true SELECT balance FROM accounts WHERE id = 1
	// true /* report */ WITH t AS (SELECT 1) SELECT * FROM t
	// false SELECT id FROM jobs FOR UPDATE SKIP LOCKED
	// false SELECT nextval('ids')
	// false INSERT INTO log VALUES (1)
	// 42 <nil> 2
}

func ExampleWithAdmission() {
	// One controller per database: its transactions on hot rows take
	// turns, oldest first, instead of aborting one another.
	ctl, err := admission.New(admission.Settings{})
	if err != nil {
		panic(err)
	}
	d := newFlaky("UPDATE accounts SET balance = balance + 10 WHERE id = 2", deadlockError, deadlockError)
	c, err := retrysql.NewConnector(d.connector(), retrysql.WithAdmission(ctl))
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()

	err = retrysql.RunInTx(context.Background(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance - 10 WHERE id = 1"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance + 10 WHERE id = 2")
		return err
	})
	// The deadlocks were replayed at once, each attempt under a permit.
	s := ctl.Snapshot()
	fmt.Println(err, s.Admitted, s.Inflight)
	// Output: <nil> 3 0
}

func ExampleDefaultAdmission() {
	// Every retrysql handle has a controller of its own by default: only
	// what contends waits for a permit.
	d := newFlaky("UPDATE accounts SET balance = balance + 10 WHERE id = 2", deadlockError, deadlockError)
	c, err := retrysql.NewConnector(d.connector())
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	r, _ := retrysql.RetrierOf(db)
	ctl := r.Admission()
	fmt.Println(ctl.AdmitsHotOnly(), retrysql.DefaultAdmission().AdmitHotOnly)

	transfer := func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance - 10 WHERE id = 1"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance + 10 WHERE id = 2")
		return err
	}
	// The first attempt ran without a permit (its rows had not contended)
	// and deadlocked: the replays wait for permits.
	err = retrysql.RunInTx(context.Background(), db, nil, transfer)
	s := ctl.Snapshot()
	fmt.Println(err, s.Admitted, s.Cold)

	// WithAdmission(nil) turns it off, here for one call.
	err = retrysql.RunInTx(context.Background(), db, nil, transfer, retrysql.WithAdmission(nil))
	fmt.Println(err, ctl.Snapshot().Admitted)
	// Output:
	// true true
	// <nil> 2 1
	// <nil> 2
}

// flaky is the examples' driver. Every statement succeeds (a query returns
// one row, 42) but those of query fail, with errs in turn.
type flaky struct {
	mu    sync.Mutex
	query string
	errs  []error
	runs  map[string]int
}

var flakyDriver = newFlaky("")

func newFlaky(query string, errs ...error) *flaky {
	return &flaky{query: query, errs: errs, runs: map[string]int{}}
}

func (d *flaky) reset(query string, errs ...error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.query, d.errs, d.runs = query, errs, map[string]int{}
}

func (d *flaky) count(query string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.runs[query]
}

func (d *flaky) run(query string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.runs[query]++
	if query == d.query && len(d.errs) > 0 {
		err := d.errs[0]
		d.errs = d.errs[1:]
		return err
	}
	return nil
}

func (d *flaky) Open(string) (driver.Conn, error) { return flakyConn{d}, nil }

func (d *flaky) connector() driver.Connector { return flakyConnector{d} }

type flakyConnector struct{ d *flaky }

func (c flakyConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open("") }
func (c flakyConnector) Driver() driver.Driver                        { return c.d }

type flakyConn struct{ d *flaky }

func (c flakyConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("flaky: no prepare") }
func (c flakyConn) Close() error                        { return nil }
func (c flakyConn) Begin() (driver.Tx, error)           { return flakyTx{}, nil }

func (c flakyConn) ExecContext(_ context.Context, query string, _ []driver.NamedValue) (driver.Result, error) {
	if err := c.d.run(query); err != nil {
		return nil, err
	}
	return driver.RowsAffected(1), nil
}

func (c flakyConn) QueryContext(_ context.Context, query string, _ []driver.NamedValue) (driver.Rows, error) {
	if err := c.d.run(query); err != nil {
		return nil, err
	}
	return &flakyRows{}, nil
}

type flakyTx struct{}

func (flakyTx) Commit() error   { return nil }
func (flakyTx) Rollback() error { return nil }

type flakyRows struct{ done bool }

func (r *flakyRows) Columns() []string { return []string{"n"} }
func (r *flakyRows) Close() error      { return nil }
func (r *flakyRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	dest[0] = int64(42)
	return nil
}
