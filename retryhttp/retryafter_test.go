package retryhttp_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
)

// TestRetryAfterSeconds: a 503 with Retry-After: 1 is retried after one
// second, not after the strategy's millisecond.
func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ev := &events{}
	client, _ := newClient(t, nil, ev.option())
	resp, err := client.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e := ev.list()
	if resp.StatusCode != 200 || len(e) != 1 || e[0].Delay != time.Second {
		t.Fatalf("%s after retries %+v, want one retry after 1s", resp.Status, e)
	}
	if se := statusOf(e[0]); se == nil || se.StatusCode != 503 || !se.HasRetryAfter || se.RetryAfter != time.Second {
		t.Fatalf("retry event's error %v", e[0].Err)
	}
}

// TestRetryAfterDate: a 429 with Retry-After as an HTTP date two seconds
// ahead (whole seconds: between one and two from now) is retried then.
func TestRetryAfterDate(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ev := &events{}
	client, tr := newClient(t, nil, ev.option())
	resp, err := client.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e := ev.list()
	if resp.StatusCode != 200 || len(e) != 1 || e[0].Delay <= time.Second-50*time.Millisecond || e[0].Delay > 2*time.Second {
		t.Fatalf("%s after retries %+v, want one retry after 1 to 2s", resp.Status, e)
	}
	// A 429 is the client going too fast, not the server failing.
	if se := statusOf(e[0]); se == nil || se.StatusCode != 429 || e[0].Result.Unavailable || e[0].Result.Code != "429" {
		t.Fatalf("retry event %+v", e[0])
	}
	if st := tr.Stats()[s.URL]; st.RetriesByCode["429"] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRetryAfterTooLong: a server that asks for more than the maximum is
// not retried: the caller gets its answer at once.
func TestRetryAfterTooLong(t *testing.T) {
	for _, tc := range []struct {
		header string
		opts   []retrysql.Option
	}{
		{strconv.Itoa(int(retrysql.DefaultMaxRetryAfter/time.Second) + 1), nil},
		{"3", []retrysql.Option{retrysql.WithMaxRetryAfter(2 * time.Second)}},
		{"99999999999999999999", nil},
	} {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Retry-After", tc.header)
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		var gaveUp []retrysql.Event
		client, _ := newClient(t, nil, append(tc.opts, retrysql.WithOnGiveUp(func(e retrysql.Event) { gaveUp = append(gaveUp, e) }))...)
		start := time.Now()
		resp, err := client.Get(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || s.requests.Load() != 1 || len(gaveUp) != 1 || gaveUp[0].Reason != retrysql.ReasonRetryAfter {
			t.Fatalf("Retry-After %s: %s after %d requests in %v, give-ups %+v", tc.header, resp.Status, s.requests.Load(), time.Since(start), gaveUp)
		}
	}
}

// TestRetryAfterPastTheDeadline: a hint that would end after the
// request's deadline is not waited for.
func TestRetryAfterPastTheDeadline(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	client, _ := newClient(t, nil)
	client.Timeout = 2 * time.Second
	start := time.Now()
	resp, err := client.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || s.requests.Load() != 1 || time.Since(start) > time.Second {
		t.Fatalf("%s after %d requests in %v", resp.Status, s.requests.Load(), time.Since(start))
	}
}
