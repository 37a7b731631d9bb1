package retrysql_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// records is a slog.Handler that keeps what it is given.
type records struct {
	mu    sync.Mutex
	level slog.Level
	got   []slog.Record
}

func (h *records) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.got = append(h.got, r)
	h.mu.Unlock()
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

// lines returns one line per record, "LEVEL message key=value ...",
// without retrysql.delay.
func (h *records) lines() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.got {
		b.WriteString(r.Level.String() + " " + r.Message)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != "retrysql.delay" {
				b.WriteString(" " + a.Key + "=" + a.Value.String())
			}
			return true
		})
		b.WriteString("\n")
	}
	return b.String()
}

// TestLogger: the lines of a retry, an unknown outcome and the breaker's
// changes, with their levels and attributes: the opening at Warn, the
// probing at Debug, the closing at Info.
func TestLogger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &records{level: slog.LevelDebug}
		br, _ := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 2, OpenFor: 10 * time.Millisecond, MaxWait: -1})
		d := newFake(failN("exec", "UPDATE t", 1, serialization))
		db := openFake(t, d, retrysql.WithLogger(slog.New(h)), retrysql.WithBreaker(br), retrysql.WithMaxAttempts(2))
		ctx := t.Context()
		if _, err := db.ExecContext(ctx, "UPDATE t"); err != nil {
			t.Fatal(err)
		}
		d.script = failN("exec", "INSERT", 1, io.ErrUnexpectedEOF)
		db.ExecContext(ctx, "INSERT")
		d.openErr = func(int) error { return refused }
		db.SetMaxIdleConns(0)
		db.PingContext(ctx) // two failed connects open the circuit
		time.Sleep(20 * time.Millisecond)
		db.PingContext(ctx) // the probe fails
		d.openErr = nil
		time.Sleep(20 * time.Millisecond)
		if err := db.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		want := map[string]int{ // line → how many times
			"DEBUG retrysql: retrying retrysql.place=statement retrysql.attempt=1 retrysql.error.class=tx-aborted db.response.status_code=40001 error.type=40001":                1,
			"WARN retrysql: outcome unknown retrysql.place=statement retrysql.attempt=1 retrysql.error.class=conn-lost error.type=*errors.errorString retrysql.reason=ambiguous": 1,
			"WARN retrysql: circuit breaker opened retrysql.breaker.state=open retrysql.breaker.from=closed":                                                                     1,
			"DEBUG retrysql: circuit breaker half-open retrysql.breaker.state=half-open retrysql.breaker.from=open":                                                              2,
			"DEBUG retrysql: circuit breaker probe failed, open again retrysql.breaker.state=open retrysql.breaker.from=half-open":                                               1,
			"INFO retrysql: circuit breaker closed retrysql.breaker.state=closed retrysql.breaker.from=half-open":                                                                1,
		}
		got := h.lines()
		for line, n := range want {
			if c := strings.Count(got, line+"\n"); c != n {
				t.Errorf("%d lines %q, want %d, in:\n%s", c, line, n, got)
			}
		}
		if strings.Count(got, "WARN retrysql: circuit breaker") != 1 {
			t.Errorf("the circuit opened once, and only that is a warning:\n%s", got)
		}
	})
}

// TestLoggerErrorMessages: an error's message, which may quote the
// statement's data, is left out unless asked for, and then goes under
// exception.message; the bounded error.type is always there.
func TestLoggerErrorMessages(t *testing.T) {
	secret := fmt.Errorf("insert of alice@example.com: %w", errTransient)
	for _, tc := range []struct {
		opts    []retrysql.LogOption
		message bool
	}{
		{nil, false},
		{[]retrysql.LogOption{retrysql.LogErrorMessages}, true},
	} {
		var text bytes.Buffer
		h := &records{level: slog.LevelDebug}
		for _, l := range []*slog.Logger{
			slog.New(h),
			slog.New(slog.NewTextHandler(&text, &slog.HandlerOptions{Level: slog.LevelDebug})),
		} {
			r := newRetrier(t, nil, retrysql.WithLogger(l, tc.opts...), retrysql.WithMaxAttempts(2),
				retrysql.WithStrategy(classify.Transient, strategy.Fixed{}))
			retrysql.Do(t.Context(), r, (&script{errs: []error{secret, secret}}).op)
		}
		if len(h.got) != 2 {
			t.Fatalf("%d lines, want 2 (retrying, gave up):\n%s", len(h.got), h.lines())
		}
		for _, rec := range h.got {
			attrs := map[string]string{}
			rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
			msg, ok := attrs["exception.message"]
			if tc.message != ok || ok && msg != secret.Error() {
				t.Errorf("%q with %v: exception.message %q (set: %v)", rec.Message, tc.opts, msg, ok)
			}
			if _, ok := attrs["error"]; ok || attrs["error.type"] != "55P03" || attrs["db.response.status_code"] != "55P03" {
				t.Errorf("%q: attributes %v, want error.type and the code, no \"error\"", rec.Message, attrs)
			}
		}
		if strings.Contains(text.String(), "alice") != tc.message {
			t.Errorf("with %v, the text log:\n%s", tc.opts, text.String())
		}
	}
	if _, err := retrysql.NewRetrier(retrysql.WithLogger(slog.Default(), retrysql.LogOption(4))); err == nil {
		t.Error("an unknown LogOption accepted")
	}
}

// TestLoggerDisabledCostsNothing: lines of levels the logger does not log
// are not built: a retry and a give-up allocate as much with a logger at
// Error (and the error messages asked for) as without one, and nothing
// reaches the handler.
func TestLoggerDisabledCostsNothing(t *testing.T) {
	ctx := context.Background()
	measure := func(opts ...retrysql.Option) float64 {
		r := newRetrier(t, nil, append(opts, retrysql.WithMaxAttempts(2),
			retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{}))...)
		aborted := &codeError{code: "40001"}
		return testing.AllocsPerRun(100, func() {
			retrysql.Do(ctx, r, (&script{errs: []error{aborted}}).op)          // retried
			retrysql.Do(ctx, r, (&script{errs: []error{aborted, aborted}}).op) // given up
		})
	}
	without := measure()
	quiet := &records{level: slog.LevelError}
	with := measure(retrysql.WithLogger(slog.New(quiet), retrysql.LogErrorMessages))
	if with != without {
		t.Errorf("%v allocations with a logger at Error, %v without", with, without)
	}
	if len(quiet.got) != 0 {
		t.Errorf("the handler got %d records below its level", len(quiet.got))
	}
}

// TestLoggerBudgetRateLimited: give-ups for an empty budget are logged at
// most once a second, the next saying how many were left out.
func TestLoggerBudgetRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &records{level: slog.LevelWarn}
		r := newRetrier(t, nil, retrysql.WithLogger(slog.New(h)), retrysql.WithBudget(&denyAll{}))
		for range 5 {
			retrysql.Do(t.Context(), r, (&script{errs: []error{errTransient}}).op)
		}
		time.Sleep(time.Second)
		retrysql.Do(t.Context(), r, (&script{errs: []error{errTransient}}).op)
		got := h.lines()
		if strings.Count(got, "gave up") != 2 || !strings.Contains(got, "retrysql.suppressed=4") {
			t.Fatalf("log:\n%s", got)
		}
	})
}

func ExampleWithLogger() {
	// Text on standard output, from Debug up, without the time.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	r, err := retrysql.NewRetrier(
		retrysql.WithLogger(logger, retrysql.LogErrorMessages), // and the errors' messages
		retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{Interval: time.Millisecond}),
		retrysql.WithMaxAttempts(2))
	if err != nil {
		panic(err)
	}
	conflict := &pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access"}
	err = retrysql.Do(context.Background(), r, func(context.Context) error { return conflict })
	fmt.Println(retrysql.Attempts(err), "attempts")
	// Output:
	// level=DEBUG msg="retrysql: retrying" retrysql.place=operation retrysql.attempt=1 retrysql.error.class=tx-aborted db.response.status_code=40001 error.type=40001 exception.message="ERROR: could not serialize access (SQLSTATE 40001)" retrysql.delay=1ms
	// level=WARN msg="retrysql: gave up" retrysql.place=operation retrysql.attempt=2 retrysql.error.class=tx-aborted db.response.status_code=40001 error.type=40001 exception.message="ERROR: could not serialize access (SQLSTATE 40001)" retrysql.reason=attempts
	// 2 attempts
}
