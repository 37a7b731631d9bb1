package retryhttp_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/budget"
	"github.com/retrysql/retrysql/retryhttp"
)

// TestLoadAmplification: a service that answers 503 to every request,
// 50 clients sending GETs back to back through one Transport with the
// default budget (a budget.Ratio of 0.2 retries per request, with a
// floor of 10 retries a second and a burst of 100): the service receives
// at most 1.2 attempts per request, plus what the floor adds, which
// vanishes as traffic grows (the guarantee of budget.Ratio: at most
// Ratio·F + Floor·T + B retries for F requests over T). Every request
// wants 9 retries, so the budget is spent to its last credit. Counted
// exactly, in virtual time (synctest): "budget" has no breaker, the
// worst case; "defaults" has the default breaker too, and requests that
// give up after 100ms, as in BenchmarkLoadAmplification (a request the
// open breaker refuses waits for it, within its context: without a
// timeout the breaker's probes, two a second, are all the service
// receives, and attempts per request only measure how long requests
// wait).
func TestLoadAmplification(t *testing.T) {
	for _, variant := range []struct {
		name    string
		opts    []retrysql.Option
		timeout time.Duration
	}{
		{"budget", []retrysql.Option{retrysql.WithBreaker(nil)}, 0},
		{"defaults", nil, 100 * time.Millisecond},
	} {
		t.Run(variant.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := &memory{status: http.StatusServiceUnavailable}
				tr, err := retryhttp.NewTransport(m, variant.opts...)
				if err != nil {
					t.Fatal(err)
				}
				const clients, each = 50, 400
				start := time.Now()
				var wg sync.WaitGroup
				for range clients {
					wg.Go(func() {
						for range each {
							ctx, cancel := t.Context(), context.CancelFunc(func() {})
							if variant.timeout > 0 {
								ctx, cancel = context.WithTimeout(ctx, variant.timeout)
							}
							req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://svc.example/", nil)
							if resp, err := tr.RoundTrip(req); err == nil {
								resp.Body.Close()
							}
							cancel()
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				requests := float64(clients * each)
				attempts := float64(m.requests("svc.example"))
				floor := budget.DefaultFloor*elapsed.Seconds() + budget.DefaultFloor*budget.DefaultWindow.Seconds()
				perRequest, floorShare := attempts/requests, floor/requests
				t.Logf("%.0f requests over %v (virtual): %.0f attempts, %.4f per request, of which the floor's %.4f at most",
					requests, elapsed.Round(time.Millisecond), attempts, perRequest, floorShare)
				if perRequest > 1+budget.DefaultRatio+floorShare {
					t.Fatalf("%.4f attempts per request, more than 1.2 + the floor's %.4f", perRequest, floorShare)
				}
				if st := tr.Stats()["http://svc.example"]; float64(st.Attempts) != attempts {
					t.Fatalf("the Retrier counted %d attempts, the service saw %.0f", st.Attempts, attempts)
				}
			})
		})
	}
}
