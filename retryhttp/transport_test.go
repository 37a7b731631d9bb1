package retryhttp_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/retryhttp"
)

func TestResetConnectionIsRetriedForSafeRequests(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		key          bool
	}{
		{"GET", http.MethodGet, false},
		{"PUT", http.MethodPut, false},
		{"DELETE", http.MethodDelete, false},
		{"POST with an Idempotency-Key", http.MethodPost, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					reset(w)
					return
				}
				io.WriteString(w, "done")
			})
			ev := &events{}
			client, tr := newClient(t, nil, ev.option())
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, s.URL+"/orders", strings.NewReader("order 7"))
			if tc.key {
				req.Header.Set("Idempotency-Key", "order-7")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); resp.StatusCode != 200 || body != "done" {
				t.Fatalf("%s %q", resp.Status, body)
			}
			// Sent twice, the body rewound for the second attempt.
			if got := s.seen(); len(got) != 2 || got[0] != "order 7" || got[1] != "order 7" {
				t.Fatalf("server read %q", got)
			}
			if e := ev.list(); len(e) != 1 || e[0].Result.Class != classify.ConnLost {
				t.Fatalf("retries %+v", e)
			}
			if st := tr.Stats()[s.URL]; st.Attempts != 2 || st.Retries != 1 {
				t.Fatalf("stats of %s: %+v (all: %v)", s.URL, st, tr.Stats())
			}
		})
	}
}

// TestPostWithoutKeyIsSentOnce: a POST whose response was lost may have
// been processed: it is never sent again, and the error says so.
func TestPostWithoutKeyIsSentOnce(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { reset(w) })
	client, _ := newClient(t, nil)
	resp, err := client.Post(s.URL+"/orders", "text/plain", strings.NewReader("order 8"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %s", resp.Status)
	}
	if !errors.Is(err, retrysql.ErrAmbiguous) || retrysql.Attempts(err) != 1 {
		t.Fatalf("got %v, want ErrAmbiguous after one attempt", err)
	}
	if n := s.requests.Load(); n != 1 {
		t.Fatalf("sent %d times", n)
	}
}

// TestRefusedConnectionIsRetriedForAnyRequest: nothing was written, so
// even a POST without a key is sent (once) when a dial succeeds.
func TestRefusedConnectionIsRetriedForAnyRequest(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusCreated) })
	client, _ := newClient(t, refuseFirst(2))
	resp, err := client.Post(s.URL+"/orders", "text/plain", strings.NewReader("order 9"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || s.requests.Load() != 1 {
		t.Fatalf("%s after %d requests", resp.Status, s.requests.Load())
	}
}

// TestBodyThatCannotBeRewoundIsSentOnce: without GetBody the body cannot
// be sent again: one attempt, whatever the method.
func TestBodyThatCannotBeRewoundIsSentOnce(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { reset(w) })
	client, _ := newClient(t, nil)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, s.URL, io.NopCloser(strings.NewReader("once")))
	req.GetBody = nil
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %s", resp.Status)
	}
	if s.requests.Load() != 1 || errors.Is(err, retrysql.ErrAmbiguous) {
		t.Fatalf("got %v after %d requests, want the transport's error after one", err, s.requests.Load())
	}
}

// TestGivesUpWithTheLastResponse: when retrying stops on a status, the
// caller gets the last response, body and all; the responses discarded
// before it were read and closed, so every attempt reused one connection.
func TestGivesUpWithTheLastResponse(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, strings.Repeat("x", 1000)+" down")
	})
	ev := &events{}
	client, _ := newClient(t, nil, retrysql.WithMaxAttempts(4), ev.option())
	resp, err := client.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 503 || !strings.HasSuffix(body, " down") || len(body) != 1005 {
		t.Fatalf("%s %d bytes", resp.Status, len(body))
	}
	if s.requests.Load() != 4 || s.conns.Load() != 1 {
		t.Fatalf("%d requests on %d connections, want 4 on 1", s.requests.Load(), s.conns.Load())
	}
	for _, e := range ev.list() {
		if se := statusOf(e); se == nil || se.StatusCode != 503 || e.Result.Code != "503" || !e.Result.Unavailable {
			t.Fatalf("retry event %+v", e)
		}
	}
}

// TestLargeErrorBodyIsDrained: a discarded body longer than what is held
// is drained and closed before the next attempt.
func TestLargeErrorBodyIsDrained(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, strings.Repeat("y", 100<<10))
			return
		}
		io.WriteString(w, "ok")
	})
	client, _ := newClient(t, nil)
	resp, err := client.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); body != "ok" || s.conns.Load() != 1 {
		t.Fatalf("%q on %d connections", body, s.conns.Load())
	}
}

func TestStatusesRetried(t *testing.T) {
	for code, retried := range map[int]bool{429: true, 502: true, 503: true, 504: true, 500: false, 501: false, 404: false, 409: false} {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				w.WriteHeader(code)
			}
		})
		client, _ := newClient(t, nil)
		resp, err := client.Get(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int32{true: 2, false: 1}[retried]; s.requests.Load() != want || (resp.StatusCode == 200) != retried {
			t.Errorf("%d: %d requests, answer %s", code, s.requests.Load(), resp.Status)
		}
	}
}

// TestPostWithoutKeyGetsTheStatus: a 503 to a POST without a key is the
// answer: it may have done something.
func TestPostWithoutKeyGetsTheStatus(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusServiceUnavailable) })
	client, _ := newClient(t, nil)
	resp, err := client.Post(s.URL, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || s.requests.Load() != 1 {
		t.Fatalf("%s after %d requests", resp.Status, s.requests.Load())
	}
}

func TestNoRetryContext(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusServiceUnavailable) })
	client, _ := newClient(t, nil)
	req, _ := http.NewRequestWithContext(retrysql.NoRetry(t.Context()), http.MethodGet, s.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || s.requests.Load() != 1 {
		t.Fatalf("%s after %d requests", resp.Status, s.requests.Load())
	}
}

func TestNewTransportRefusesBadInput(t *testing.T) {
	tr, err := retryhttp.NewTransport(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := retryhttp.NewTransport(tr); err == nil {
		t.Error("a retryhttp Transport over another accepted")
	}
	if _, err := retryhttp.NewTransport(nil, retrysql.WithMaxAttempts(0)); err == nil {
		t.Error("an invalid option accepted")
	}
	if _, err := retryhttp.NewTransport(nil, retrysql.WithIdempotentQueries(retrysql.ReadOnlyQuery)); err == nil {
		t.Error("an option of a database handle accepted")
	}
	if _, err := tr.RoundTrip(&http.Request{Method: "GET", Body: http.NoBody}); err == nil {
		t.Error("a request without a URL accepted")
	}
}
