package retryhttp_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
)

// TestHostsHaveTheirOwnBreaker: a service that fails opens its own
// breaker; another, on the same Transport, is untouched.
func TestHostsHaveTheirOwnBreaker(t *testing.T) {
	down := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusServiceUnavailable) })
	up := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusOK) })
	client, tr := newClient(t, nil)
	hammer(t, client, down.URL, 8)
	if d := tr.Stats()[down.URL]; d.Breaker == retrysql.BreakerClosed || d.BreakerRejections == 0 {
		t.Fatalf("the failing host's breaker %v: %+v", d.Breaker, d)
	}
	start := time.Now()
	resp, err := client.Get(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u := tr.Stats()[up.URL]
	if resp.StatusCode != 200 || u.Attempts != 1 || u.Breaker != retrysql.BreakerClosed || time.Since(start) > 200*time.Millisecond {
		t.Fatalf("the healthy host: %s, %+v, in %v", resp.Status, u, time.Since(start))
	}
}

// TestHostsHaveTheirOwnBudget: a service that fails spends its own retry
// budget; another still has all of its own.
func TestHostsHaveTheirOwnBudget(t *testing.T) {
	down := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusServiceUnavailable) })
	flaky := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	client, tr := newClient(t, nil, retrysql.WithBreaker(nil))
	// 30 requests of 10 attempts want 270 retries; the default budget
	// holds about 100 of a fresh host's.
	hammer(t, client, down.URL, 30)
	if d := tr.Stats()[down.URL]; d.BudgetDenials == 0 {
		t.Fatalf("the failing host's budget was never short: %+v", d)
	}
	for range 5 {
		resp, err := client.Get(flaky.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("the other host: %s", resp.Status)
		}
	}
	if f := tr.Stats()[flaky.URL]; f.Retries != 5 || f.BudgetDenials != 0 {
		t.Fatalf("the other host: %+v", f)
	}
}

// hammer sends n GETs to url at once, each within 300ms.
func hammer(t *testing.T, client *http.Client, url string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
}
