package retrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

var (
	serialization = &pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access"}
	uniqueViolate = &pgconn.PgError{Severity: "ERROR", Code: "23505", Message: "duplicate key"}
	refused       = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
)

// fastOptions keeps waits short in tests.
var fastOptions = []retrysql.Option{
	retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{Interval: time.Millisecond}),
	retrysql.WithStrategy(classify.Transient, strategy.Fixed{Interval: time.Millisecond}),
	retrysql.WithStrategy(classify.ConnLost, strategy.Fixed{Interval: time.Millisecond}),
	retrysql.WithConnectStrategy(strategy.Fixed{Interval: time.Millisecond}),
}

// openFake opens a handle on d through retrysql.
func openFake(t testing.TB, d *fakeDriver, opts ...retrysql.Option) *sql.DB {
	t.Helper()
	c, err := retrysql.NewConnector(fakeConnector{d}, append(append([]retrysql.Option{}, fastOptions...), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

func stats(t *testing.T, db *sql.DB) retrysql.Stats {
	t.Helper()
	r, ok := retrysql.RetrierOf(db)
	if !ok {
		t.Fatal("RetrierOf: not a retrysql handle")
	}
	return r.Stats()
}

func TestStatementRetriedOnSameConnection(t *testing.T) {
	d := newFake(failN("exec", "UPDATE t", 2, serialization))
	db := openFake(t, d)
	if _, err := db.ExecContext(t.Context(), "UPDATE t"); err != nil {
		t.Fatal(err)
	}
	if n := d.count("exec", "UPDATE t"); n != 3 {
		t.Fatalf("%d executions, want 3", n)
	}
	if d.opens != 1 {
		t.Fatalf("%d connections opened, want 1", d.opens)
	}
	// Four attempts: the connect and three executions.
	if st := stats(t, db); st.Attempts != 4 || st.Retries != 2 || st.RetriesByCode["40001"] != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPermanentErrorAttemptedOnce(t *testing.T) {
	d := newFake(failN("exec", "INSERT", 5, uniqueViolate))
	db := openFake(t, d)
	_, err := db.ExecContext(t.Context(), "INSERT")
	if err != uniqueViolate {
		t.Fatalf("got %v (%T), want the driver's error itself", err, err)
	}
	if n := d.count("exec", "INSERT"); n != 1 {
		t.Fatalf("%d executions", n)
	}
}

// TestBadConnectionBeforeSendIsReplacedInPlace: nothing was sent and the
// connection was fresh, so the statement's own loop replaces it and runs
// the statement again: one loop, one count, and database/sql never sees
// the loss.
func TestBadConnectionBeforeSendIsReplacedInPlace(t *testing.T) {
	d := newFake(failN("exec", "UPDATE t", 2, driver.ErrBadConn))
	db := openFake(t, d)
	if _, err := db.ExecContext(t.Context(), "UPDATE t"); err != nil {
		t.Fatal(err)
	}
	if n := d.count("exec", "UPDATE t"); n != 3 {
		t.Fatalf("%d executions, want 3", n)
	}
	if d.opens != 3 {
		t.Fatalf("%d connections opened, want 3 (each lost one replaced)", d.opens)
	}
	// Four attempts: the connect of database/sql's request, and three
	// executions, the second and third each on a connection opened by
	// their attempt; two retries, each waited for and budgeted once.
	st := stats(t, db)
	if st.Attempts != 4 || st.Retries != 2 || st.ByClass[classify.ConnLost].Retries != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBadConnectionCountsAgainstMaxAttempts(t *testing.T) {
	d := newFake(failN("exec", "UPDATE t", 100, driver.ErrBadConn))
	db := openFake(t, d, retrysql.WithMaxAttempts(2))
	_, err := db.ExecContext(t.Context(), "UPDATE t")
	var e *retrysql.Error
	if !errors.As(err, &e) || e.Reason != retrysql.ReasonAttempts {
		t.Fatalf("got %v", err)
	}
	if errors.Is(err, driver.ErrBadConn) {
		t.Fatal("the give-up error matches ErrBadConn: database/sql would retry it again")
	}
	if n := d.count("exec", "UPDATE t"); n != 2 {
		t.Fatalf("%d executions, want 2: max attempts spans database/sql's tries", n)
	}
}

func TestLostAfterSendIsAmbiguous(t *testing.T) {
	d := newFake(failN("exec", "INSERT", 1, io.ErrUnexpectedEOF))
	db := openFake(t, d)
	_, err := db.ExecContext(t.Context(), "INSERT")
	if !errors.Is(err, retrysql.ErrAmbiguous) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
	if errors.Is(err, driver.ErrBadConn) {
		t.Fatal("an ambiguous error must not send database/sql retrying")
	}
	if n := d.count("exec", "INSERT"); n != 1 {
		t.Fatalf("%d executions: an INSERT that may have run was run again", n)
	}
	// Declared idempotent: retried, on a new connection.
	d = newFake(failN("exec", "UPSERT", 1, io.ErrUnexpectedEOF))
	db = openFake(t, d)
	if _, err := db.ExecContext(retrysql.Idempotent(t.Context()), "UPSERT"); err != nil {
		t.Fatal(err)
	}
	if n := d.count("exec", "UPSERT"); n != 2 || d.opens != 2 {
		t.Fatalf("%d executions on %d connections, want 2 on 2", n, d.opens)
	}
}

func TestIdempotentQueriesPolicy(t *testing.T) {
	script := func(op, q string, n int) error {
		if op == "query" && n == 1 {
			return io.ErrUnexpectedEOF
		}
		return nil
	}
	d := newFake(script)
	db := openFake(t, d, retrysql.WithIdempotentQueries(retrysql.ReadOnlyQuery))
	rows, err := db.QueryContext(t.Context(), "SELECT x FROM t")
	if err != nil {
		t.Fatalf("read-only query not retried: %v", err)
	}
	rows.Close()
	_, err = db.QueryContext(t.Context(), "SELECT x FROM t FOR UPDATE")
	if !errors.Is(err, retrysql.ErrAmbiguous) {
		t.Fatalf("locking query: %v", err)
	}
	if d.count("query", "SELECT x FROM t") != 2 || d.count("query", "SELECT x FROM t FOR UPDATE") != 1 {
		t.Fatalf("executions: %s", d)
	}
}

func TestNothingRetriedInsideATransaction(t *testing.T) {
	d := newFake(failN("exec", "UPDATE t", 1, serialization))
	db := openFake(t, d)
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.ExecContext(t.Context(), "UPDATE t")
	if err != serialization {
		t.Fatalf("got %v, want the error as it is", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// After the transaction, the connection retries again.
	d.script = failN("exec", "UPDATE u", 1, serialization)
	if _, err := db.ExecContext(t.Context(), "UPDATE u"); err != nil {
		t.Fatal(err)
	}
	if d.count("exec", "UPDATE t") != 1 || d.count("exec", "UPDATE u") != 2 {
		t.Fatalf("executions: %s", d)
	}
}

func TestBeginIsRetried(t *testing.T) {
	d := newFake(failN("begin", "", 1, io.ErrUnexpectedEOF)) // BEGIN changes nothing: safe
	db := openFake(t, d)
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if d.count("begin", "") != 2 {
		t.Fatalf("%d BEGINs", d.count("begin", ""))
	}
}

func TestConnectIsRetried(t *testing.T) {
	d := newFake(nil)
	d.openErr = func(n int) error {
		if n <= 2 {
			return refused
		}
		return nil
	}
	db := openFake(t, d)
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d.opens != 3 {
		t.Fatalf("%d dials, want 3", d.opens)
	}
	// Refused for longer than the context allows: the context's deadline
	// bounds the waiting, and the last real error is returned.
	d2 := newFake(nil)
	d2.openErr = func(int) error { return refused }
	db2 := openFake(t, d2, retrysql.WithConnectStrategy(strategy.Fixed{Interval: 20 * time.Millisecond}))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := db2.PingContext(ctx)
	if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
	if errors.Is(err, driver.ErrBadConn) {
		t.Fatal("a connector returned an error matching ErrBadConn")
	}
}

func TestErrSkipAndErrRemoveArgumentPassThrough(t *testing.T) {
	// A driver that answers ErrSkip to Exec (as go-sql-driver/mysql does for
	// arguments without interpolateParams): database/sql must see the
	// sentinel itself and prepare instead.
	d := newFake(func(op, q string, n int) error {
		if op == "exec" {
			return driver.ErrSkip
		}
		return nil
	})
	db := openFake(t, d)
	if _, err := db.ExecContext(t.Context(), "UPDATE t SET x = ?", 1, removeMe{}); err != nil {
		t.Fatalf("ErrSkip or ErrRemoveArgument was wrapped: %v", err)
	}
	if d.count("prepare", "UPDATE t SET x = ?") != 1 || d.count("stmt-exec", "UPDATE t SET x = ?") != 1 {
		t.Fatalf("database/sql did not fall back to prepare: %s", d)
	}
	// Three attempts: the connect, the prepare and the execution; the
	// ErrSkip answer is not one.
	if st := stats(t, db); st.Attempts != 3 {
		t.Fatalf("stats %+v: ErrSkip is not an attempt", st)
	}
}

func TestPreparedStatementRetried(t *testing.T) {
	d := newFake(failN("stmt-exec", "UPDATE t", 2, serialization))
	db := openFake(t, d)
	s, err := db.PrepareContext(t.Context(), "UPDATE t")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ExecContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d.count("stmt-exec", "UPDATE t") != 3 {
		t.Fatalf("%s", d)
	}
}

func TestSlowFailureNearTheDeadline(t *testing.T) {
	d := newFake(func(op, q string, n int) error {
		time.Sleep(40 * time.Millisecond)
		return serialization
	})
	db := openFake(t, d, retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{Interval: 100 * time.Millisecond}))
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Millisecond)
	defer cancel()
	_, err := db.ExecContext(ctx, "UPDATE t")
	var e *retrysql.Error
	if !errors.As(err, &e) || e.Reason != retrysql.ReasonDeadline || !errors.Is(err, serialization) {
		t.Fatalf("got %v", err)
	}
}

func TestDriverPanicPropagates(t *testing.T) {
	d := newFake(failN("exec", "BOOM", 1, errPanic))
	db := openFake(t, d)
	defer func() {
		if p := recover(); p == nil {
			t.Fatal("the driver's panic was swallowed")
		}
	}()
	db.ExecContext(t.Context(), "BOOM")
}

// TestConcurrentStatements runs statements from 16 goroutines, sharing one
// context and one query, while the driver fails some with deadlocks and
// lost connections; run with -race. Every statement succeeds: a connection
// lost before sending is replaced in place, within the statement's own
// loop, so no error matching driver.ErrBadConn reaches the application.
func TestConcurrentStatements(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	d := newFake(func(op, q string, n int) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		switch calls % 5 {
		case 1:
			return serialization
		case 2:
			return driver.ErrBadConn
		}
		return nil
	})
	// Two calls in five fail, whichever goroutine makes them: 50 attempts
	// make a statement that fails them all unlikely (0.4^50).
	db := openFake(t, d, retrysql.WithBudget(nil), retrysql.WithMaxAttempts(50))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				if _, err := db.ExecContext(t.Context(), "UPDATE t"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

func TestHandleAPI(t *testing.T) {
	d := newFake(nil)
	db := openFake(t, d)
	// Driver() is the wrapper, bound to the handle.
	if _, ok := retrysql.RetrierOf(db); !ok {
		t.Fatal("RetrierOf")
	}
	if _, ok := retrysql.RetrierOf(nil); ok {
		t.Fatal("RetrierOf(nil)")
	}
	// Conn.Raw hands over the wrapper; UnwrapConn reaches the driver's own.
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		if _, ok := dc.(*fakeConn); ok {
			return errors.New("Raw handed over the driver's connection, not the wrapper")
		}
		if _, ok := retrysql.UnwrapConn(dc).(*fakeConn); !ok {
			return errors.New("UnwrapConn did not reach the driver's connection")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each handle has its own Retrier, unless shared.
	db2 := openFake(t, d)
	r1, _ := retrysql.RetrierOf(db)
	r2, _ := retrysql.RetrierOf(db2)
	if r1 == r2 {
		t.Fatal("two handles share a Retrier")
	}
	shared, _ := retrysql.NewRetrier()
	c3, err := retrysql.NewConnector(fakeConnector{d}, retrysql.WithRetrier(shared))
	if err != nil {
		t.Fatal(err)
	}
	db3 := sql.OpenDB(c3)
	defer db3.Close()
	if r3, _ := retrysql.RetrierOf(db3); r3 != shared {
		t.Fatal("WithRetrier not used")
	}
}

func TestRegisterAndOpen(t *testing.T) {
	d := newFake(failN("exec", "UPDATE t", 1, serialization))
	n := registrations.Add(1) // names stay taken for the process: -count=N runs again
	name := fmt.Sprintf("retry+fake-register-%d", n)
	if err := retrysql.Register(name, d, fastOptions...); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open(name, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), "UPDATE t"); err != nil {
		t.Fatal(err)
	}
	if d.count("exec", "UPDATE t") != 2 {
		t.Fatal("not retried through a registered driver")
	}
	plain := fmt.Sprintf("fake-plain-%d", n)
	sql.Register(plain, newFake(failN("exec", "UPDATE t", 1, serialization)))
	db2, err := retrysql.Open(plain, "", fastOptions...)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if _, err := db2.ExecContext(t.Context(), "UPDATE t"); err != nil {
		t.Fatal(err)
	}
}

var registrations atomic.Int32

// closingFakeConnector is a connector with Close, which database/sql calls from
// DB.Close; the wrapper must forward it.
type closingFakeConnector struct {
	fakeConnector
	closed *atomic.Bool
}

func (c closingFakeConnector) Close() error { c.closed.Store(true); return nil }

func TestConnectorPlumbing(t *testing.T) {
	var closed atomic.Bool
	c, err := retrysql.NewConnector(closingFakeConnector{fakeConnector{newFake(nil)}, &closed})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(io.Closer); !ok {
		t.Fatal("the wrapper hides the connector's Close")
	}
	db := sql.OpenDB(c)
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := db.Driver().(*fakeDriver); ok {
		t.Fatal("Connector.Driver() is the driver's, not the wrapper")
	}
	if _, ok := retrysql.RetrierOf(db); !ok {
		t.Fatal("the wrapper's driver does not lead to the handle's Retrier")
	}
	db.Close()
	if !closed.Load() {
		t.Fatal("DB.Close did not reach the driver's connector")
	}
	// A connector without Close gets none.
	c2, _ := retrysql.NewConnector(fakeConnector{newFake(nil)})
	if _, ok := c2.(io.Closer); ok {
		t.Fatal("the wrapper adds a Close the driver's connector lacks")
	}
}

// TestContextEndingMidStatementIsAmbiguous: when the caller's context ends
// while a write is in flight, the write may or may not have happened.
func TestContextEndingMidStatementIsAmbiguous(t *testing.T) {
	d := newFake(failN("exec", "INSERT", 10, errUntilDone))
	db := openFake(t, d)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := db.ExecContext(ctx, "INSERT")
	if !errors.Is(err, retrysql.ErrAmbiguous) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrAmbiguous and DeadlineExceeded", err)
	}
	// Idempotent work is not ambiguous: it does not matter whether it ran.
	ctx2, cancel2 := context.WithTimeout(retrysql.Idempotent(t.Context()), 50*time.Millisecond)
	defer cancel2()
	_, err = db.ExecContext(ctx2, "INSERT")
	if errors.Is(err, retrysql.ErrAmbiguous) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("idempotent: got %v", err)
	}
	// Inside RunInTx, before COMMIT, the transaction is rolled back: a
	// definite failure.
	ctx3, cancel3 := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel3()
	err = retrysql.RunInTx(ctx3, db, nil, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT")
		return err
	})
	if errors.Is(err, retrysql.ErrAmbiguousCommit) || errors.Is(err, retrysql.ErrAmbiguous) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RunInTx before COMMIT: got %v", err)
	}
}

// TestBreakerCountsConnectsNotDeadConnections: connections dying under
// statements (a failover, a restart) do not open the breaker; connects
// that fail do.
func TestBreakerCountsConnectsNotDeadConnections(t *testing.T) {
	br, err := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 3, OpenFor: time.Hour, MaxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	d := newFake(failN("exec", "UPDATE t", 6, driver.ErrBadConn))
	db := openFake(t, d, retrysql.WithBreaker(br), retrysql.WithBudget(nil))
	for range 2 { // six dead connections in a row, over two statements
		db.ExecContext(t.Context(), "UPDATE t")
	}
	if br.State() != retrysql.BreakerClosed {
		t.Fatalf("dead connections opened the breaker (%s)", d)
	}
	d.openErr = func(int) error { return refused }
	db.SetMaxIdleConns(0)
	db.PingContext(t.Context())
	if br.State() != retrysql.BreakerOpen {
		t.Fatal("refused connects did not open the breaker")
	}
	if _, err := db.ExecContext(t.Context(), "UPDATE t"); !errors.Is(err, retrysql.ErrCircuitOpen) {
		t.Fatalf("open breaker: %v", err)
	}
}
