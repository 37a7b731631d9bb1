package retrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// The examples of the markers an operation returns, NoRetry and the
// options of operations. Each uses only what this file declares, so that
// go doc and pkg.go.dev show it as a whole program that runs.

var errQueueBusy = errors.New("queue busy")

func ExampleRetryable() {
	r, err := retrysql.NewRetrier()
	if err != nil {
		panic(err)
	}
	attempts := 0
	err = retrysql.Do(context.Background(), r, func(ctx context.Context) error {
		attempts++
		if attempts < 3 {
			// A plain error is permanent; this one is known to pass.
			return retrysql.Retryable(fmt.Errorf("publish: %w", errQueueBusy))
		}
		return nil
	}, retrysql.WithStrategy(classify.Transient, strategy.Fixed{Interval: time.Millisecond}))
	fmt.Println(attempts, err)
	// Output: 3 <nil>
}

func ExamplePermanent() {
	r, err := retrysql.NewRetrier()
	if err != nil {
		panic(err)
	}
	deadlock := &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}
	attempts := 0
	err = retrysql.Do(context.Background(), r, func(ctx context.Context) error {
		attempts++
		// The server deadlocked, but the work cannot be done again.
		return retrysql.Permanent(fmt.Errorf("charge card: %w", deadlock))
	})
	var pgErr *pgconn.PgError
	fmt.Println(attempts, errors.As(err, &pgErr) && pgErr.Code == "40P01")
	// Output: 1 true
}

func ExampleClassified() {
	r, err := retrysql.NewRetrier(
		retrysql.WithCodeStrategy("RATE", strategy.Fixed{Interval: time.Millisecond}),
	)
	if err != nil {
		panic(err)
	}
	calls := 0
	err = retrysql.Do(context.Background(), r, func(ctx context.Context) error {
		calls++
		if calls == 1 {
			// Transient, with a code that chooses its strategy and is counted.
			return retrysql.Classified(errors.New("rate limited"), classify.Result{Class: classify.Transient, Code: "RATE"})
		}
		return nil
	})
	fmt.Println(err, r.Stats().RetriesByCode["RATE"])
	// Output: <nil> 1
}

func ExampleRetryAfter() {
	r, err := retrysql.NewRetrier(
		retrysql.WithOnRetry(func(e retrysql.Event) { fmt.Println("waiting", e.Delay) }),
	)
	if err != nil {
		panic(err)
	}
	calls := 0
	err = retrysql.Do(context.Background(), r, func(ctx context.Context) error {
		calls++
		if calls == 1 {
			// The server asked for 50ms: more than the strategy's 10-20ms.
			return retrysql.RetryAfter(errors.New("throttled"), 50*time.Millisecond)
		}
		return nil
	})
	fmt.Println(err)
	// Output:
	// waiting 50ms
	// <nil>
}

func ExampleWithMaxRetryAfter() {
	r, err := retrysql.NewRetrier(retrysql.WithMaxRetryAfter(time.Second))
	if err != nil {
		panic(err)
	}
	err = retrysql.Do(context.Background(), r, func(ctx context.Context) error {
		return retrysql.RetryAfter(errors.New("maintenance"), time.Hour)
	})
	// Not retried: the caller learns at once.
	var e *retrysql.Error
	fmt.Println(errors.As(err, &e) && e.Reason == retrysql.ReasonRetryAfter, retrysql.Attempts(err))
	// Output: true 1
}

func ExampleWithRetryIf() {
	r, err := retrysql.NewRetrier()
	if err != nil {
		panic(err)
	}
	attempts := 0
	err = retrysql.Do(context.Background(), r, func(ctx context.Context) error {
		attempts++
		if attempts < 3 {
			return errQueueBusy
		}
		return nil
	},
		retrysql.WithRetryIf(func(err error) bool { return errors.Is(err, errQueueBusy) }),
		retrysql.WithStrategy(classify.Transient, strategy.Fixed{Interval: time.Millisecond}))
	fmt.Println(attempts, err)
	// Output: 3 <nil>
}

func ExampleNoRetry() {
	jobs := &lockedJobs{} // a database whose job rows are all locked
	c, err := retrysql.NewConnector(jobs)
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()

	// Locked by another worker: skip the job now, do not wait for it.
	var id int
	err = db.QueryRowContext(retrysql.NoRetry(context.Background()),
		"SELECT id FROM jobs WHERE id = $1 FOR UPDATE NOWAIT", 1).Scan(&id)
	var pgErr *pgconn.PgError
	fmt.Println(errors.As(err, &pgErr) && pgErr.Code == "55P03", jobs.queries.Load())
	// Output: true 1
}

// lockedJobs stands for ExampleNoRetry's database: a driver.Connector
// whose every query fails as SELECT ... FOR UPDATE NOWAIT does on
// PostgreSQL when another transaction holds the row (55P03, "lock not
// available", which retrysql otherwise retries); it counts the queries.
type lockedJobs struct{ queries atomic.Int32 }

func (d *lockedJobs) Connect(context.Context) (driver.Conn, error) { return lockedConn{d}, nil }
func (d *lockedJobs) Driver() driver.Driver                        { return d }
func (d *lockedJobs) Open(string) (driver.Conn, error)             { return lockedConn{d}, nil }

type lockedConn struct{ d *lockedJobs }

func (c lockedConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("no prepare") }
func (c lockedConn) Close() error                        { return nil }
func (c lockedConn) Begin() (driver.Tx, error)           { return nil, errors.New("no transactions") }

func (c lockedConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	c.d.queries.Add(1)
	return nil, &pgconn.PgError{Code: "55P03", Message: `could not obtain lock on row in relation "jobs"`}
}

func ExampleWithAttemptTimeout() {
	// A lost answer is retried after 1ms (when the work is idempotent).
	r, err := retrysql.NewRetrier(retrysql.WithStrategy(classify.ConnLost, strategy.Fixed{Interval: time.Millisecond}))
	if err != nil {
		panic(err)
	}
	attempts := 0
	err = retrysql.Do(retrysql.Idempotent(context.Background()), r, func(ctx context.Context) error {
		attempts++
		if attempts == 1 {
			<-ctx.Done() // no answer: the attempt's 20ms run out
			return ctx.Err()
		}
		return nil
	}, retrysql.WithAttemptTimeout(20*time.Millisecond))
	fmt.Println(attempts, err)

	// Not idempotent: the work may have been done, and is not done again.
	err = retrysql.Do(context.Background(), r, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}, retrysql.WithAttemptTimeout(20*time.Millisecond))
	fmt.Println(errors.Is(err, retrysql.ErrAttemptTimeout), errors.Is(err, retrysql.ErrAmbiguous))
	// Output:
	// 2 <nil>
	// true true
}

func ExampleDefaultTransientStrategy() {
	s := retrysql.DefaultTransientStrategy() // a copy, to tune
	s.Max = 10 * time.Second
	_, err := retrysql.NewRetrier(retrysql.WithStrategy(classify.Transient, s))
	fmt.Println(s.Initial, s.Max, err)
	// Output: 20ms 10s <nil>
}

func ExampleDefaultTxAbortedStrategy() {
	s := retrysql.DefaultTxAbortedStrategy()
	fmt.Println(s.Initial, s.Max)
	// Output: 2ms 200ms
}

func ExampleDefaultConnLostStrategy() {
	s := retrysql.DefaultConnLostStrategy()
	s.Initial = 50 * time.Millisecond
	_, err := retrysql.NewRetrier(retrysql.WithConnectStrategy(s))
	fmt.Println(s.Initial, s.Max, err)
	// Output: 50ms 5s <nil>
}

// An adapter that decides more than the loop (which statuses of an HTTP
// answer to send again, say) asks whether the Retrier treats all work as
// idempotent.
func ExampleRetrier_AllIdempotent() {
	plain, err := retrysql.NewRetrier()
	if err != nil {
		fmt.Println(err)
		return
	}
	declared, err := retrysql.NewRetrier(retrysql.WithIdempotent())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(plain.AllIdempotent(), declared.AllIdempotent())
	// Output: false true
}
