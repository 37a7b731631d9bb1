package otelretrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/otelretrysql"
)

// The tests in this file run on the in-memory driver of the examples and
// on retrysql.Do; those of db_test.go on real servers.

const other = "db.system.name=other_sql,"

// refuser is a breaker that lets the first allowed attempts through, then
// refuses every attempt.
type refuser struct{ allowed atomic.Int32 }

var errRefused = errors.New("refused")

func (b *refuser) Allow() (func(retrysql.Outcome), error) {
	if b.allowed.Add(-1) < 0 {
		return nil, errRefused
	}
	return func(retrysql.Outcome) {}, nil
}

func TestBreakerRefusesFirstAttempt(t *testing.T) {
	rec := newRecorder(t)
	r, err := retrysql.NewRetrier(append(rec.tel.Options(), retrysql.WithBreaker(&refuser{}))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, end := rec.span(context.Background(), "caller")
	err = retrysql.Do(ctx, r, func(context.Context) error { return nil })
	end()
	if !errors.Is(err, retrysql.ErrCircuitOpen) {
		t.Fatalf("err = %v, want ErrCircuitOpen", err)
	}
	// No attempt failed: no class to say, no give-up (as Stats counts them).
	expect(t, rec.collect(t), map[string]map[string]string{
		otelretrysql.MetricBreakerRejected: {other + "retrysql.place=operation": "1"},
	})
	if st := r.Stats(); st.BreakerRejections != 1 || st.GiveUps != 0 {
		t.Errorf("Stats: %d rejections, %d give-ups; the metrics say 1 and 0", st.BreakerRejections, st.GiveUps)
	}
	s := rec.finished(t, "caller")
	checkEvents(t, s, "retrysql.give_up retrysql.attempts=0,retrysql.place=operation,retrysql.reason=circuit_open")
	if s.Status.Code != codes.Error || s.Status.Description != "retrysql: circuit breaker open" {
		t.Errorf("status %+v, want Error", s.Status)
	}
}

func TestBreakerRefusesRetry(t *testing.T) {
	rec := newRecorder(t)
	b := &refuser{}
	b.allowed.Store(1)
	r, err := retrysql.NewRetrier(append(append(rec.tel.Options(), quick...), retrysql.WithBreaker(b))...)
	if err != nil {
		t.Fatal(err)
	}
	err = retrysql.Do(context.Background(), r, func(context.Context) error { return driver.ErrBadConn })
	if !errors.Is(err, retrysql.ErrCircuitOpen) {
		t.Fatalf("err = %v, want ErrCircuitOpen", err)
	}
	// One retry was announced (the hook runs before the wait), then the
	// breaker refused it.
	expect(t, rec.collect(t), map[string]map[string]string{
		otelretrysql.MetricGiveUp:          {other + "retrysql.error.class=conn-lost,retrysql.place=operation,retrysql.reason=circuit_open": "1"},
		otelretrysql.MetricBreakerRejected: {other + "retrysql.error.class=conn-lost,retrysql.place=operation": "1"},
	})
	if st := r.Stats(); st.BreakerRejections != 1 || st.GiveUps != 1 {
		t.Errorf("Stats: %d rejections, %d give-ups; the metrics say 1 and 1", st.BreakerRejections, st.GiveUps)
	}
}

func TestGauges(t *testing.T) {
	rec := newRecorder(t, otelretrysql.WithDBSystem("postgresql"), otelretrysql.WithAttributes(attribute.String("server.address", "db1")))
	br, err := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 2, MaxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := admission.New(admission.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := retrysql.NewRetrier(append(quick, retrysql.WithBreaker(br), retrysql.WithAdmission(ctl))...)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := retrysql.NewRetrier() // no admission: no admission gauges
	if err != nil {
		t.Fatal(err)
	}
	unregister, err := rec.tel.Observe(r, attribute.String("db.namespace", "shop"))
	if err != nil {
		t.Fatal(err)
	}
	unregisterBare, err := rec.tel.Observe(bare, attribute.String("db.namespace", "bare"))
	if err != nil {
		t.Fatal(err)
	}
	defer unregisterBare()
	const shop, bareAttrs = "db.namespace=shop,db.system.name=postgresql,server.address=db1", "db.namespace=bare,db.system.name=postgresql,server.address=db1"
	expect(t, rec.collect(t), map[string]map[string]string{
		otelretrysql.MetricBreakerState:    {shop: "0", bareAttrs: "0"},
		otelretrysql.MetricAdmissionLimit:  {shop: "4"},
		otelretrysql.MetricAdmissionHeld:   {shop: "0"},
		otelretrysql.MetricAdmissionQueued: {shop: "0"},
	})

	// Two failed attempts open the circuit.
	_ = retrysql.Do(context.Background(), r, func(context.Context) error { return driver.ErrBadConn }, retrysql.WithMaxAttempts(2))
	if got := rec.collect(t)[otelretrysql.MetricBreakerState].points[shop]; got != "2" {
		t.Errorf("breaker state %s after the circuit opened, want 2", got)
	}

	if err := unregister(); err != nil {
		t.Fatal(err)
	}
	got := rec.collect(t)
	if _, ok := got[otelretrysql.MetricAdmissionLimit]; ok {
		t.Errorf("admission gauge after unregister: %v", got[otelretrysql.MetricAdmissionLimit])
	}
	if p := got[otelretrysql.MetricBreakerState].points; len(p) != 1 || p[bareAttrs] != "0" {
		t.Errorf("breaker gauge after unregister: %v, want only the other Retrier's", p)
	}
	if _, err := rec.tel.Observe(nil); err == nil {
		t.Error("Observe(nil) succeeded")
	}
}

// A Do whose operation runs another Do that gives up: one give-up, counted
// by the inner loop, whose error the outer one returns as it is.
func TestNestedGiveUpCountedOnce(t *testing.T) {
	rec := newRecorder(t)
	r, err := retrysql.NewRetrier(append(rec.tel.Options(), quick...)...)
	if err != nil {
		t.Fatal(err)
	}
	err = retrysql.Do(context.Background(), r, func(ctx context.Context) error {
		return retrysql.Do(ctx, r, func(context.Context) error { return driver.ErrBadConn }, retrysql.WithMaxAttempts(2))
	})
	if retrysql.Attempts(err) != 2 {
		t.Fatalf("err = %v, want the inner give-up after 2 attempts", err)
	}
	expect(t, rec.collect(t), map[string]map[string]string{
		otelretrysql.MetricRetries:    {other + "retrysql.outcome=gave_up,retrysql.place=operation": "count=1 sum=1"},
		otelretrysql.MetricRetryDelay: {other + "retrysql.outcome=gave_up,retrysql.place=operation": "count=1 sum=0.001"},
		otelretrysql.MetricGiveUp:     {other + "retrysql.error.class=conn-lost,retrysql.place=operation,retrysql.reason=attempts": "1"},
	})
	if st := r.Stats(); st.GiveUps != 1 {
		t.Errorf("Stats: %d give-ups; the metric says 1", st.GiveUps)
	}
}

func TestErrorType(t *testing.T) {
	rec := newRecorder(t, otelretrysql.WithOperationDuration())
	r, err := retrysql.NewRetrier(quick...)
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	opts := rec.tel.Options()
	_ = retrysql.Do(context.Background(), r, func(context.Context) error { return errors.New("boom") }, opts...)
	_ = retrysql.Do(context.Background(), r, func(context.Context) error { return context.Canceled }, opts...)
	_ = retrysql.Do(canceled, r, func(context.Context) error { return nil }, opts...)
	_ = retrysql.Do(context.Background(), r, func(context.Context) error { return driver.ErrBadConn }, append(opts, retrysql.WithMaxAttempts(2))...)
	_ = retrysql.Do(context.Background(), r, func(context.Context) error { return nil }, opts...)
	expect(t, rec.collect(t), map[string]map[string]string{
		otelretrysql.MetricDuration: {
			other + "error.type=*errors.errorString,retrysql.place=operation": "count=1",
			other + "error.type=canceled,retrysql.place=operation":            "count=2", // returned; before the first attempt
			other + "error.type=attempts,retrysql.place=operation":            "count=1",
			other + "retrysql.place=operation":                                "count=1",
		},
		otelretrysql.MetricRetries:    {other + "retrysql.outcome=gave_up,retrysql.place=operation": "count=1 sum=1"},
		otelretrysql.MetricRetryDelay: {other + "retrysql.outcome=gave_up,retrysql.place=operation": "count=1 sum=0.001"},
		otelretrysql.MetricGiveUp:     {other + "retrysql.error.class=conn-lost,retrysql.place=operation,retrysql.reason=attempts": "1"},
	})
}

// The options go everywhere retrysql's hooks go; the duration metric and
// the operation spans leave connects out unless asked.
func TestPlaces(t *testing.T) {
	rec := newRecorder(t, otelretrysql.WithOperationDuration(), otelretrysql.WithOperationSpans())
	mem := &memDB{}
	db := memHandle(t, mem, rec.tel.Options()...)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "UPDATE t SET n = 1"); err != nil {
		t.Fatal(err)
	}
	plain := sql.OpenDB(mem) // RunInTx with the hooks given per call
	defer plain.Close()
	if err := retrysql.RunInTx(ctx, plain, nil, func(context.Context, *sql.Tx) error { return nil }, rec.tel.Options()...); err != nil {
		t.Fatal(err)
	}
	r, err := retrysql.NewRetrier(rec.tel.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := retrysql.Do(ctx, r, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	expect(t, rec.collect(t), map[string]map[string]string{
		otelretrysql.MetricDuration: {
			other + "retrysql.place=statement":   "count=1",
			other + "retrysql.place=transaction": "count=1",
			other + "retrysql.place=operation":   "count=1",
		},
	})
	var names []string
	for _, s := range rec.spans.GetSpans() {
		names = append(names, s.Name)
	}
	if len(names) != 3 {
		t.Errorf("spans %q, want one per operation, no connect", names)
	}

	rec = newRecorder(t, otelretrysql.WithOperationDuration(retrysql.PlaceConnect))
	db = memHandle(t, &memDB{}, rec.tel.Options()...)
	if _, err := db.ExecContext(ctx, "UPDATE t SET n = 1"); err != nil {
		t.Fatal(err)
	}
	expect(t, rec.collect(t), map[string]map[string]string{
		otelretrysql.MetricDuration: {other + "retrysql.place=connect": "count=1"},
	})
	if len(rec.spans.GetSpans()) != 0 {
		t.Error("operation spans without WithOperationSpans")
	}
}

// Nothing goes wrong without a span in the context, or without a
// recording one.
func TestNoSpan(t *testing.T) {
	rec := newRecorder(t)
	r, err := retrysql.NewRetrier(append(rec.tel.Options(), quick...)...)
	if err != nil {
		t.Fatal(err)
	}
	_ = retrysql.Do(context.Background(), r, func(context.Context) error { return driver.ErrBadConn }, retrysql.WithMaxAttempts(2))
	if n := len(rec.spans.GetSpans()); n != 0 {
		t.Errorf("%d spans", n)
	}
}

func TestGlobalProviders(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(mp)
	defer otel.SetMeterProvider(prev)
	tel, err := otelretrysql.New()
	if err != nil {
		t.Fatal(err)
	}
	r, err := retrysql.NewRetrier(append(tel.Options(), quick...)...)
	if err != nil {
		t.Fatal(err)
	}
	_ = retrysql.Do(context.Background(), r, func(context.Context) error { return driver.ErrBadConn }, retrysql.WithMaxAttempts(2))
	rec := &recorder{reader: reader}
	if got := rec.collect(t); got[otelretrysql.MetricGiveUp].points == nil {
		t.Errorf("nothing recorded to the global meter provider: %v", got)
	}
	if _, err := otelretrysql.New(otelretrysql.WithDBSystem("")); err == nil {
		t.Error("WithDBSystem(\"\") accepted")
	}
}

// An operation whose first attempt succeeds allocates nothing more with
// the adapter than without, with or without the duration metric.
func TestFirstAttemptAllocatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, s := range setups {
		r, err := retrysql.NewRetrier(s.opts(t)...)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		op := func(context.Context) error { return nil }
		do := testing.AllocsPerRun(1000, func() { _ = retrysql.Do(ctx, r, op) })
		db := memHandle(t, &memDB{}, s.opts(t)...)
		exec := testing.AllocsPerRun(1000, func() { _, _ = db.ExecContext(ctx, "UPDATE t SET n = 1") })
		// Do allocates its context; database/sql its own.
		if do != 1 || exec != 1 {
			t.Errorf("%s: Do %v allocations, a statement %v; want 1 and 1, as without the adapter", s.name, do, exec)
		}
	}
}

// A lost connection of a *sql.Conn that has served requests goes back to
// database/sql at once: the outcome is "handed_off".
func TestHandedOff(t *testing.T) {
	rec := newRecorder(t, otelretrysql.WithOperationDuration(), otelretrysql.WithOperationSpans())
	mem := &memDB{}
	db := memHandle(t, mem, rec.tel.Options()...)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET x = 1"); err != nil {
		t.Fatal(err)
	}
	mem.failNext(driver.ErrBadConn)
	if _, err := conn.ExecContext(ctx, "UPDATE t SET n = 1"); !errors.Is(err, driver.ErrBadConn) {
		t.Fatalf("err = %v, want driver.ErrBadConn", err)
	}
	expect(t, rec.collect(t), map[string]map[string]string{
		otelretrysql.MetricDuration: {
			other + "retrysql.place=statement":                     "count=1",
			other + "error.type=bad_conn,retrysql.place=statement": "count=1",
		},
	})
	var outcomes []string
	for _, s := range rec.spans.GetSpans() {
		for _, kv := range s.Attributes {
			if kv.Key == otelretrysql.AttrOutcome {
				outcomes = append(outcomes, kv.Value.AsString())
			}
		}
	}
	if !slices.Equal(outcomes, []string{"success", "handed_off"}) {
		t.Errorf("outcomes %q, want success, handed_off", outcomes)
	}
}
