package main

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

func TestRunPrintsEveryStrategy(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 2000, 1, 10, ""); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"retrysql's defaults", "tx-aborted: decorrelated 2ms–200ms", "transient: equal jitter 20ms–2s", "conn-lost, connect: equal jitter 100ms–5s",
		"up to 50 attempts", "up to 10 attempts",
		"fixed 100ms", "linear 100ms +100ms", "exponential ×2", "full jitter", "equal jitter", "decorrelated", "median",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	joined := strings.Join(strings.Fields(s), "  ")
	// The deterministic rows are exact.
	for _, want := range []string{
		"10ms  20ms  40ms  80ms  160ms  320ms  640ms  1s  1s  1s",
		"100ms  200ms  300ms  400ms  500ms  600ms  700ms  800ms  900ms  1s",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("output lacks the row %q:\n%s", want, s)
		}
	}
	// No textbook jittered maximum exceeds the 1s cap, and the tx-aborted
	// default stays within 2ms and 200ms.
	book := s[strings.Index(s, "Textbook"):]
	if strings.Contains(book, "1.01s") || strings.Contains(book, "2s") {
		t.Errorf("a delay above the 1s cap:\n%s", s)
	}
	tx := s[strings.Index(s, "tx-aborted: decorrelated"):strings.Index(s, "transient: equal")]
	for _, f := range strings.Fields(tx)[3:] {
		if f == "min" || f == "median" || f == "max" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d < 2*time.Millisecond || d > 200*time.Millisecond {
			t.Errorf("tx-aborted delay %q outside [2ms, 200ms]:\n%s", f, tx)
		}
	}
}

// TestDefaultRowsKeepTheirBounds: every sampled delay of the defaults
// lies where its strategy says.
func TestDefaultRowsKeepTheirBounds(t *testing.T) {
	for i, r := range defaultRows(rand.NewPCG(1, 1)) {
		st := measure(r, 2000, 10)
		var prev time.Duration
		for n := range st.med {
			lo, _ := bounds(libraryDefaults[i].s, n+1, prev)
			_, hi := bounds(libraryDefaults[i].s, n+1, time.Hour) // the most any previous delay allows
			if st.lo[n] < lo || st.hi[n] > hi || st.p5[n] > st.med[n] || st.med[n] > st.p95[n] {
				t.Errorf("%s, retry %d: min %v, p5 %v, median %v, p95 %v, max %v outside [%v, %v]",
					r.name, n+1, st.lo[n], st.p5[n], st.med[n], st.p95[n], st.hi[n], lo, hi)
			}
			prev = st.med[n]
		}
	}
}

func TestRunDrawsTheChart(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"s.svg", "s.png"} {
		path := filepath.Join(dir, name)
		var out bytes.Buffer
		if err := run(&out, 200, 1, 10, path); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".svg") && !bytes.Contains(b, []byte("<svg")) || strings.HasSuffix(name, ".png") && !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s: not an image of its kind: %.40q", name, b)
		}
		if !strings.Contains(out.String(), "chart written to "+path) {
			t.Errorf("output does not name the chart:\n%s", out.String())
		}
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][3]int{{0, 1, 10}, {10, 1, 0}, {10, 1, 5000}} {
		if err := run(&out, args[0], uint64(args[1]), args[2], ""); err == nil {
			t.Errorf("run(%v) accepted bad flags", args)
		}
	}
	if err := run(&out, 10, 1, 10, "chart.gif"); err == nil {
		t.Error("a .gif chart accepted")
	}
}

// classifier says every error is of one class (and, for connecting, comes
// from establishing a connection).
type classifier struct{ res classify.Result }

func (c classifier) Classify(error) classify.Result { return c.res }

// TestLibraryDefaults checks libraryDefaults against the library: it runs
// retrysql's own retry loop on errors of each class and checks that every
// delay it waits could come from the strategy shown, with the delay before
// fed back as the loop does. The example repeats the defaults because the
// package keeps them unexported; this keeps the copy true.
func TestLibraryDefaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		res     classify.Result
		retries int
		seqs    int
	}{
		{"tx-aborted", classify.Result{Class: classify.TxAborted}, 5, 4},
		{"transient", classify.Result{Class: classify.Transient}, 3, 2},
		{"conn-lost", classify.Result{Class: classify.ConnLost, Unsent: true}, 2, 1},
		{"connect", classify.Result{Class: classify.ConnLost, Unsent: true, Connect: true}, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			class := tc.name
			if class == "connect" {
				class = "conn-lost"
			}
			var s strategy.Strategy
			for _, d := range libraryDefaults {
				if d.class == class {
					s = d.s
				}
			}
			if s == nil {
				t.Fatalf("no default for %s", class)
			}
			var (
				mu     sync.Mutex
				delays []time.Duration
			)
			r, err := retrysql.NewRetrier(retrysql.WithBudget(nil), retrysql.WithBreaker(nil), retrysql.WithClassifier(classifier{tc.res}),
				retrysql.WithMaxAttempts(tc.retries+1), retrysql.WithOnRetry(func(e retrysql.Event) {
					mu.Lock()
					delays = append(delays, e.Delay)
					mu.Unlock()
				}))
			if err != nil {
				t.Fatal(err)
			}
			boom := errors.New("boom")
			for range tc.seqs {
				mu.Lock()
				delays = nil
				mu.Unlock()
				err := retrysql.Do(context.Background(), r, func(context.Context) error { return boom }, retrysql.WithIdempotent())
				if !errors.Is(err, boom) {
					t.Fatalf("got %v", err)
				}
				mu.Lock()
				got := delays
				mu.Unlock()
				if len(got) != tc.retries {
					t.Fatalf("%d retries, want %d: %v", len(got), tc.retries, got)
				}
				var prev time.Duration
				for i, d := range got {
					lo, hi := bounds(s, i+1, prev)
					if d < lo || d > hi {
						t.Errorf("retry %d waited %v; %T %+v gives [%v, %v] after %v", i+1, d, s, s, lo, hi, prev)
					}
					prev = d
				}
			}
		})
	}
}

// bounds is the range of the delays s can give before retry n after a
// delay of prev.
func bounds(s strategy.Strategy, n int, prev time.Duration) (lo, hi time.Duration) {
	switch v := s.(type) {
	case strategy.Decorrelated:
		return v.Initial, min(v.Max, 3*min(max(prev, v.Initial), v.Max))
	case strategy.EqualJitter:
		e := strategy.Exponential{Initial: v.Initial, Max: v.Max, Base: v.Base}.Delay(n, prev)
		return e / 2, e
	}
	d := s.Delay(n, prev)
	return d, d
}
