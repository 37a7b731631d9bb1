package integration_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// Outage amplification: 50 clients make requests at a steady pace; the
// database becomes unreachable for 5 s (the proxy in front of it stops:
// connections are cut, new ones refused), then comes back. Measured: the
// attempts made on the database during the outage per request offered
// (the clients' schedule: 1,000 a second), and the time from its return
// until throughput is back to normal. A client whose request waits (for
// the breaker's probe, up to its 2 s deadline) skips the ticks it misses,
// so it makes fewer requests than offered: the offered load is what the
// attempts are measured against.

const (
	outageClients = 50
	outagePace    = 50 * time.Millisecond // per client: 1,000 requests/s in all
	outageLength  = 5 * time.Second
)

type outageResult struct {
	requests, attempts int64   // made during the outage
	perRequest         float64 // attempts ÷ requests offered
	recovery           time.Duration
	normal             float64 // successes per second before the outage
}

func TestOutageAmplification(t *testing.T) {
	configs := []struct {
		name string
		opts []retrysql.Option
		max  float64 // attempts per request allowed during the outage, 0: only reported
	}{
		{"defaults (budget and breaker)", nil, 0.1},
		{"budget, no breaker", []retrysql.Option{retrysql.WithBreaker(nil)}, 0},
		{"no budget, no breaker", []retrysql.Option{retrysql.WithBreaker(nil), retrysql.WithBudget(nil)}, 0},
	}
	for _, tc := range []struct {
		name, driver string
		via          func(*testing.T, string) string
		addr         func(*testing.T) string
		query        string
	}{
		{"postgres", "pgx", pgVia, pgAddr, "SELECT 1"},
		{"mariadb", "mysql", mysqlVia, mysqlAddr, "SELECT 1"},
	} {
		for _, cfg := range configs {
			t.Run(tc.name+"/"+cfg.name, func(t *testing.T) {
				proxy := dbtest.NewProxy(t, tc.addr(t))
				if err := proxy.Start(); err != nil {
					t.Fatal(err)
				}
				db, err := retrysql.Open(tc.driver, tc.via(t, proxy.Addr()), cfg.opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				db.SetMaxOpenConns(outageClients)
				db.SetMaxIdleConns(outageClients)
				res := runOutage(t, db, proxy, tc.query)
				t.Logf("%s, %s: %d requests made during the outage, %d attempts: %.3f per request offered; back to normal (%.0f/s) %v after the database returned",
					tc.name, cfg.name, res.requests, res.attempts, res.perRequest, res.normal, res.recovery.Round(10*time.Millisecond))
				if cfg.max > 0 && res.perRequest > cfg.max {
					t.Errorf("%.2f attempts per request during the outage, more than %.1f", res.perRequest, cfg.max)
				}
				if cfg.max > 0 && res.recovery > 5*time.Second {
					t.Errorf("back to normal %v after the database returned, more than the 5s maximum delay", res.recovery)
				}
			})
		}
	}
}

func runOutage(t *testing.T, db *sql.DB, proxy *dbtest.Proxy, query string) outageResult {
	r, _ := retrysql.RetrierOf(db)
	var (
		inOutage  atomic.Bool
		requests  atomic.Int64
		mu        sync.Mutex
		successes []time.Time
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	for range outageClients {
		wg.Go(func() {
			tick := time.NewTicker(outagePace)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if inOutage.Load() {
					requests.Add(1)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				var one int
				err := db.QueryRowContext(ctx, query).Scan(&one)
				cancel()
				if err == nil {
					mu.Lock()
					successes = append(successes, time.Now())
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(3 * time.Second) // steady state
	before := r.Stats().Attempts
	outageStart := time.Now()
	inOutage.Store(true)
	proxy.Stop()
	time.Sleep(outageLength)
	inOutage.Store(false)
	during := r.Stats().Attempts - before
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	time.Sleep(8 * time.Second)
	close(stop)
	wg.Wait()

	res := outageResult{requests: requests.Load(), attempts: int64(during)}
	offered := float64(outageClients) * float64(outageLength) / float64(outagePace)
	res.perRequest = float64(res.attempts) / offered
	// Normal throughput: successes per second over the second before the
	// outage. Recovery: from the return until a 500 ms window reaches 90%
	// of it.
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(successes, func(a, b time.Time) int { return a.Compare(b) })
	count := func(from, to time.Time) int {
		n := 0
		for _, s := range successes {
			if !s.Before(from) && s.Before(to) {
				n++
			}
		}
		return n
	}
	res.normal = float64(count(outageStart.Add(-time.Second), outageStart))
	res.recovery = -1
	for at := back; at.Before(back.Add(8 * time.Second)); at = at.Add(50 * time.Millisecond) {
		if float64(count(at, at.Add(500*time.Millisecond)))*2 >= 0.9*res.normal {
			res.recovery = at.Sub(back)
			break
		}
	}
	if res.recovery < 0 {
		t.Errorf("throughput not back to %.0f/s within 8s: %s", res.normal, fmt.Sprint(count(back.Add(7*time.Second), back.Add(8*time.Second)), "/s at the end"))
		res.recovery = 8 * time.Second
	}
	return res
}
