package retrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/budget"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// FuzzOptions builds a Retrier from arbitrary option values and runs an
// operation with it: every combination either is refused with an error or
// works; nothing panics, and the deadline bounds the run whatever the
// delays.
func FuzzOptions(f *testing.F) {
	f.Add(10, int64(0), 0.2, 10.0, int64(time.Second), 5, int64(time.Second), 1, uint8(3), int64(time.Millisecond), int64(time.Second), 2.0)
	f.Add(-1, int64(-1), -1.0, -1.0, int64(-1), -1, int64(-1), -1, uint8(255), int64(-5), int64(math.MaxInt64), math.NaN())
	f.Add(math.MaxInt, int64(math.MaxInt64), 1e308, 1e308, int64(math.MaxInt64), math.MaxInt, int64(math.MaxInt64), math.MaxInt, uint8(5), int64(1), int64(math.MaxInt64), math.Inf(1))
	f.Fuzz(func(t *testing.T, attempts int, elapsed int64, ratio, floor float64, window int64, failures int, openFor int64, probes int, kind uint8, initial, max int64, base float64) {
		opts := []retrysql.Option{
			retrysql.WithMaxAttempts(attempts),
			retrysql.WithMaxElapsed(time.Duration(elapsed)),
		}
		if b, err := budget.NewRatio(ratio, floor, time.Duration(window)); err == nil {
			opts = append(opts, retrysql.WithBudget(b))
		}
		if br, err := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: failures, OpenFor: time.Duration(openFor), Probes: probes}); err == nil {
			opts = append(opts, retrysql.WithBreaker(br))
		}
		i, m := time.Duration(initial), time.Duration(max)
		var s strategy.Strategy
		switch kind % 6 {
		case 0:
			s = strategy.Fixed{Interval: i}
		case 1:
			s = strategy.Linear{Initial: i, Step: i, Max: m}
		case 2:
			s = strategy.Exponential{Initial: i, Max: m, Base: base}
		case 3:
			s = strategy.FullJitter{Initial: i, Max: m, Base: base}
		case 4:
			s = strategy.EqualJitter{Initial: i, Max: m, Base: base}
		case 5:
			s = strategy.Decorrelated{Initial: i, Max: m}
		}
		opts = append(opts, retrysql.WithStrategy(classify.ConnLost, s))
		r, err := retrysql.NewRetrier(opts...)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		calls := 0
		err = retrysql.Do(ctx, r, func(context.Context) error {
			calls++
			if calls < 3 {
				return driver.ErrBadConn
			}
			return nil
		})
		if time.Since(start) > 2*time.Second {
			t.Fatalf("took %v past a 20ms deadline", time.Since(start))
		}
		if err == nil && calls != 3 {
			t.Fatalf("succeeded after %d calls", calls)
		}
		if err != nil && !errors.Is(err, driver.ErrBadConn) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzDSN gives arbitrary DSNs to the registered retrysql drivers and to
// retrysql.Open: they accept exactly the DSNs the drivers beneath accept,
// refuse the others with the drivers' own errors, and every handle they
// open is a retrysql handle; nothing panics. The one exception is
// retrysql's own extension of MySQL DSNs (a list of hosts,
// targetSessionAttrs), which it may refuse with an error of its own where
// the driver would take the list for one address.
func FuzzDSN(f *testing.F) {
	for _, s := range []string{
		"postgres://user:pass@localhost:5432/db?sslmode=disable",
		"host=localhost user=x dbname=y",
		"user:password@tcp(127.0.0.1:3306)/test?parseTime=true",
		"postgres://%zz", "@tcp(", "", "\x00", "mysql://", "user@unix(/tmp/x.sock)/db?timeout=1s",
	} {
		f.Add(s)
	}
	drivers := [][2]string{{"pgx", retrysql.DriverPgx}, {"mysql", retrysql.DriverMySQL}}
	f.Fuzz(func(t *testing.T, dsn string) {
		for _, d := range drivers {
			base, wantErr := sql.Open(d[0], dsn)
			if wantErr == nil {
				base.Close()
			}
			for how, open := range map[string]func() (*sql.DB, error){
				"sql.Open(" + d[1] + ")":      func() (*sql.DB, error) { return sql.Open(d[1], dsn) },
				"retrysql.Open(" + d[0] + ")": func() (*sql.DB, error) { return retrysql.Open(d[0], dsn) },
				"retrysql.Open(" + d[1] + ")": func() (*sql.DB, error) { return retrysql.Open(d[1], dsn) },
			} {
				db, err := open()
				switch {
				case err != nil && wantErr == nil && d[0] == "mysql" && mysqlExtension(dsn) && strings.HasPrefix(err.Error(), "retrysql: "):
					// A host list or targetSessionAttrs that retrysql refuses.
				case (err == nil) != (wantErr == nil):
					t.Fatalf("%s(%q): %v, the driver beneath: %v", how, dsn, err, wantErr)
				case err != nil && err.Error() != wantErr.Error():
					t.Fatalf("%s(%q): %q, the driver beneath %q", how, dsn, err, wantErr)
				case err == nil:
					_, ok := retrysql.RetrierOf(db)
					db.Close()
					if !ok {
						t.Fatalf("%s(%q) opened a handle that is not retrysql's", how, dsn)
					}
				}
			}
		}
	})
}

// mysqlExtension reports whether dsn uses retrysql's extension of MySQL
// DSNs: targetSessionAttrs, or a comma in its tcp(...) address.
func mysqlExtension(dsn string) bool {
	if strings.Contains(dsn, "targetSessionAttrs") {
		return true
	}
	i := strings.Index(dsn, "tcp(")
	if i < 0 {
		return false
	}
	end := strings.IndexByte(dsn[i:], ')')
	return end > 0 && strings.Contains(dsn[i:i+end], ",")
}
