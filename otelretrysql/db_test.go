package otelretrysql_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/otelretrysql"
	"github.com/retrysql/retrysql/strategy"
)

// The tests in this file provoke real errors on the local PostgreSQL and
// MariaDB servers and check what the adapter records of them.

// quick makes every retry wait 1ms, so that the delays recorded are exact,
// and turns admission off: under it (a handle's default) a contention
// error is replayed at once, its permit pacing it (TestRealDeadlock runs
// both).
var quick = []retrysql.Option{
	retrysql.WithAdmission(nil),
	retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{Interval: time.Millisecond}),
	retrysql.WithStrategy(classify.Transient, strategy.Fixed{Interval: time.Millisecond}),
	retrysql.WithStrategy(classify.ConnLost, strategy.Fixed{Interval: time.Millisecond}),
	retrysql.WithConnectStrategy(strategy.Fixed{Interval: time.Millisecond}),
}

// denyAll is a retry budget that refuses every retry.
type denyAll struct{}

func (denyAll) Request()             {}
func (denyAll) Retry(time.Time) bool { return false }

// handle opens a retrysql handle with the recorder's hooks on driver's
// dsn, with quick and opts.
func (r *recorder) handle(t *testing.T, driver, dsn string, opts ...retrysql.Option) *sql.DB {
	t.Helper()
	all := append(append(r.tel.Options(), quick...), opts...)
	db, err := retrysql.Open(driver, dsn, all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// Connect now, so that no connect lands in the statements' spans.
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	admin := openPlain(t, "pgx", dsn)
	ctx := context.Background()
	const sys = "db.system.name=postgresql,"

	t.Run("retried statement", func(t *testing.T) {
		rec := newRecorder(t, otelretrysql.WithDBSystem("postgresql"), otelretrysql.WithOperationDuration())
		db := rec.handle(t, "pgx", dsn)
		fn := uniqueName(t, "retried")
		flakyPG(t, admin, fn, "40001", 2)
		ctx, end := rec.span(ctx, "caller")
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT "+fn+"()").Scan(&n); err != nil || n != 3 {
			t.Fatalf("got %d, %v; want 3 (two failures, then success)", n, err)
		}
		end()
		expect(t, rec.collect(t), map[string]map[string]string{
			otelretrysql.MetricRetries:    {sys + "retrysql.outcome=success,retrysql.place=statement": "count=1 sum=2"},
			otelretrysql.MetricRetryDelay: {sys + "retrysql.outcome=success,retrysql.place=statement": "count=1 sum=0.002"},
			otelretrysql.MetricDuration:   {sys + "retrysql.place=statement": "count=1"},
		})
		s := rec.finished(t, "caller")
		checkEvents(t, s,
			"retrysql.retry db.response.status_code=40001,retrysql.attempt=1,retrysql.delay=0.001,retrysql.error.class=tx-aborted,retrysql.place=statement",
			"retrysql.retry db.response.status_code=40001,retrysql.attempt=2,retrysql.delay=0.001,retrysql.error.class=tx-aborted,retrysql.place=statement")
		if s.Status.Code != codes.Unset {
			t.Errorf("status %v after recovered attempts, want Unset", s.Status)
		}
	})

	t.Run("replayed transaction", func(t *testing.T) {
		rec := newRecorder(t, otelretrysql.WithDBSystem("postgresql"), otelretrysql.WithOperationDuration(),
			otelretrysql.WithOperationSpans(retrysql.PlaceTransaction))
		db := rec.handle(t, "pgx", dsn)
		fn := uniqueName(t, "replayed")
		flakyPG(t, admin, fn, "40P01", 1)
		ctx, end := rec.span(ctx, "caller")
		err := retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "SELECT "+fn+"()")
			return err
		})
		end()
		if err != nil {
			t.Fatal(err)
		}
		expect(t, rec.collect(t), map[string]map[string]string{
			otelretrysql.MetricRetries:    {sys + "retrysql.outcome=success,retrysql.place=transaction": "count=1 sum=1"},
			otelretrysql.MetricRetryDelay: {sys + "retrysql.outcome=success,retrysql.place=transaction": "count=1 sum=0.001"},
			otelretrysql.MetricDuration:   {sys + "retrysql.place=transaction": "count=1"},
		})
		caller := rec.finished(t, "caller")
		checkEvents(t, caller,
			"retrysql.retry db.response.status_code=40P01,retrysql.attempt=1,retrysql.delay=0.001,retrysql.error.class=tx-aborted,retrysql.place=transaction")
		op := rec.finished(t, "retrysql.transaction")
		if op.Parent.SpanID() != caller.SpanContext.SpanID() {
			t.Errorf("operation span's parent %v, want the caller's %v", op.Parent.SpanID(), caller.SpanContext.SpanID())
		}
		checkAttrs(t, op, "db.system.name=postgresql,retrysql.attempts=2,retrysql.backoff=0.001,retrysql.outcome=success,retrysql.place=transaction")
		if op.Status.Code != codes.Unset || !op.StartTime.Before(op.EndTime) || op.EndTime.Sub(op.StartTime) < time.Millisecond {
			t.Errorf("operation span: status %v, from %v to %v", op.Status, op.StartTime, op.EndTime)
		}
	})

	t.Run("permanent", func(t *testing.T) {
		rec := newRecorder(t, otelretrysql.WithDBSystem("postgresql"), otelretrysql.WithOperationDuration(),
			otelretrysql.WithOperationSpans())
		db := rec.handle(t, "pgx", dsn)
		ctx, end := rec.span(ctx, "caller")
		_, err := db.ExecContext(ctx, "SELECT 1/0")
		end()
		if err == nil {
			t.Fatal("1/0 succeeded")
		}
		expect(t, rec.collect(t), map[string]map[string]string{
			otelretrysql.MetricDuration: {sys + "db.response.status_code=22012,error.type=22012,retrysql.place=statement": "count=1"},
		})
		s := rec.finished(t, "caller")
		checkEvents(t, s)
		if s.Status.Code != codes.Unset {
			t.Errorf("caller's status %v after a permanent error, want Unset", s.Status)
		}
		op := rec.finished(t, "retrysql.statement")
		checkAttrs(t, op, "db.response.status_code=22012,db.system.name=postgresql,error.type=22012,retrysql.attempts=1,retrysql.backoff=0,retrysql.outcome=permanent,retrysql.place=statement")
		if op.Status.Code != codes.Error {
			t.Errorf("operation span's status %v, want Error", op.Status)
		}
	})

	t.Run("give up", func(t *testing.T) {
		rec := newRecorder(t, otelretrysql.WithDBSystem("postgresql"), otelretrysql.WithOperationDuration())
		db := rec.handle(t, "pgx", dsn, retrysql.WithMaxAttempts(3))
		fn := uniqueName(t, "giveup")
		flakyPG(t, admin, fn, "40001", 100)
		ctx, end := rec.span(ctx, "caller")
		_, err := db.ExecContext(ctx, "SELECT "+fn+"()")
		end()
		var re *retrysql.Error
		if !errors.As(err, &re) || re.Reason != retrysql.ReasonAttempts || re.Attempts != 3 {
			t.Fatalf("err = %v, want a give-up after 3 attempts", err)
		}
		expect(t, rec.collect(t), map[string]map[string]string{
			otelretrysql.MetricRetries:    {sys + "retrysql.outcome=gave_up,retrysql.place=statement": "count=1 sum=2"},
			otelretrysql.MetricRetryDelay: {sys + "retrysql.outcome=gave_up,retrysql.place=statement": "count=1 sum=0.002"},
			otelretrysql.MetricGiveUp:     {sys + "db.response.status_code=40001,retrysql.error.class=tx-aborted,retrysql.place=statement,retrysql.reason=attempts": "1"},
			otelretrysql.MetricDuration:   {sys + "db.response.status_code=40001,error.type=40001,retrysql.place=statement": "count=1"},
		})
		s := rec.finished(t, "caller")
		checkEvents(t, s,
			"retrysql.retry db.response.status_code=40001,retrysql.attempt=1,retrysql.delay=0.001,retrysql.error.class=tx-aborted,retrysql.place=statement",
			"retrysql.retry db.response.status_code=40001,retrysql.attempt=2,retrysql.delay=0.001,retrysql.error.class=tx-aborted,retrysql.place=statement",
			"retrysql.give_up db.response.status_code=40001,retrysql.attempts=3,retrysql.error.class=tx-aborted,retrysql.place=statement,retrysql.reason=attempts")
		if s.Status.Code != codes.Error || s.Status.Description != "retrysql: attempts exhausted" {
			t.Errorf("status %+v after a give-up, want Error", s.Status)
		}
	})

	t.Run("budget denied", func(t *testing.T) {
		rec := newRecorder(t, otelretrysql.WithDBSystem("postgresql"))
		db := rec.handle(t, "pgx", dsn, retrysql.WithBudget(denyAll{}))
		fn := uniqueName(t, "budget")
		flakyPG(t, admin, fn, "55P03", 1) // lock_not_available: transient, budgeted
		_, err := db.ExecContext(ctx, "SELECT "+fn+"()")
		if !errors.Is(err, retrysql.ErrBudgetExhausted) {
			t.Fatalf("err = %v, want ErrBudgetExhausted", err)
		}
		expect(t, rec.collect(t), map[string]map[string]string{
			otelretrysql.MetricGiveUp:       {sys + "db.response.status_code=55P03,retrysql.error.class=transient,retrysql.place=statement,retrysql.reason=budget": "1"},
			otelretrysql.MetricBudgetDenied: {sys + "retrysql.error.class=transient,retrysql.place=statement": "1"},
		})
		r, _ := retrysql.RetrierOf(db)
		if st := r.Stats(); st.BudgetDenials != 1 || st.GiveUps != 1 {
			t.Errorf("Stats: %d denials, %d give-ups; the metrics say 1 and 1", st.BudgetDenials, st.GiveUps)
		}
	})

	t.Run("ambiguous", func(t *testing.T) {
		rec := newRecorder(t, otelretrysql.WithDBSystem("postgresql"), otelretrysql.WithOperationDuration())
		db := rec.handle(t, "pgx", dsn)
		ctx, end := rec.span(ctx, "caller")
		// The server ends the session under the statement: it may have run.
		_, err := db.ExecContext(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
		end()
		if !errors.Is(err, retrysql.ErrAmbiguous) {
			t.Fatalf("err = %v, want ErrAmbiguous", err)
		}
		expect(t, rec.collect(t), map[string]map[string]string{
			otelretrysql.MetricAmbiguous: {sys + "retrysql.place=statement": "1"},
			otelretrysql.MetricGiveUp:    {sys + "db.response.status_code=57P01,retrysql.error.class=conn-lost,retrysql.place=statement,retrysql.reason=ambiguous": "1"},
			otelretrysql.MetricDuration:  {sys + "db.response.status_code=57P01,error.type=57P01,retrysql.place=statement": "count=1"},
		})
		s := rec.finished(t, "caller")
		checkEvents(t, s, "retrysql.give_up db.response.status_code=57P01,retrysql.attempts=1,retrysql.error.class=conn-lost,retrysql.place=statement,retrysql.reason=ambiguous")
		if s.Status.Code != codes.Error {
			t.Errorf("status %v after an unknown outcome, want Error", s.Status)
		}
	})
}

func TestMariaDB(t *testing.T) {
	dsn := mysqlDSN(t)
	admin := openPlain(t, "mysql", dsn)
	ctx := context.Background()
	const sys = "db.system.name=mariadb,"

	t.Run("retried statement", func(t *testing.T) {
		rec := newRecorder(t, otelretrysql.WithDBSystem("mariadb"), otelretrysql.WithOperationDuration())
		db := rec.handle(t, "mysql", dsn)
		fn := uniqueName(t, "retried")
		flakyMySQL(t, admin, fn, 1213, 2)
		ctx, end := rec.span(ctx, "caller")
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT "+fn+"()").Scan(&n); err != nil || n != 3 {
			t.Fatalf("got %d, %v; want 3 (two failures, then success)", n, err)
		}
		end()
		expect(t, rec.collect(t), map[string]map[string]string{
			otelretrysql.MetricRetries:    {sys + "retrysql.outcome=success,retrysql.place=statement": "count=1 sum=2"},
			otelretrysql.MetricRetryDelay: {sys + "retrysql.outcome=success,retrysql.place=statement": "count=1 sum=0.002"},
			otelretrysql.MetricDuration:   {sys + "retrysql.place=statement": "count=1"},
		})
		s := rec.finished(t, "caller")
		checkEvents(t, s,
			"retrysql.retry db.response.status_code=1213,retrysql.attempt=1,retrysql.delay=0.001,retrysql.error.class=tx-aborted,retrysql.place=statement",
			"retrysql.retry db.response.status_code=1213,retrysql.attempt=2,retrysql.delay=0.001,retrysql.error.class=tx-aborted,retrysql.place=statement")
		if s.Status.Code != codes.Unset {
			t.Errorf("status %v after recovered attempts, want Unset", s.Status)
		}
	})

	t.Run("give up in a transaction", func(t *testing.T) {
		rec := newRecorder(t, otelretrysql.WithDBSystem("mariadb"))
		db := rec.handle(t, "mysql", dsn)
		fn := uniqueName(t, "giveup")
		flakyMySQL(t, admin, fn, 1213, 100)
		ctx, end := rec.span(ctx, "caller")
		err := retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "SELECT "+fn+"()")
			return err
		}, retrysql.WithMaxAttempts(2))
		end()
		if retrysql.Attempts(err) != 2 {
			t.Fatalf("err = %v, want a give-up after 2 attempts", err)
		}
		expect(t, rec.collect(t), map[string]map[string]string{
			otelretrysql.MetricRetries:    {sys + "retrysql.outcome=gave_up,retrysql.place=transaction": "count=1 sum=1"},
			otelretrysql.MetricRetryDelay: {sys + "retrysql.outcome=gave_up,retrysql.place=transaction": "count=1 sum=0.001"},
			otelretrysql.MetricGiveUp:     {sys + "db.response.status_code=1213,retrysql.error.class=tx-aborted,retrysql.place=transaction,retrysql.reason=attempts": "1"},
		})
		if s := rec.finished(t, "caller"); s.Status.Code != codes.Error {
			t.Errorf("status %v after a give-up, want Error", s.Status)
		}
	})

	t.Run("permanent", func(t *testing.T) {
		rec := newRecorder(t, otelretrysql.WithDBSystem("mariadb"), otelretrysql.WithOperationDuration())
		db := rec.handle(t, "mysql", dsn)
		_, err := db.ExecContext(ctx, "SELECT * FROM "+uniqueName(t, "missing"))
		if err == nil {
			t.Fatal("a query of a missing table succeeded")
		}
		expect(t, rec.collect(t), map[string]map[string]string{
			otelretrysql.MetricDuration: {sys + "db.response.status_code=1146,error.type=1146,retrysql.place=statement": "count=1"},
		})
	})
}
