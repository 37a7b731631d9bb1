package retryhttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/retryhttp"
)

// BenchmarkFirstAttempt: the first-attempt cost of the transport, a GET
// answered 200 on a kept-alive loopback connection, through
// http.DefaultTransport's behaviour ("base": a clone of it, with its
// dialer, proxy from the environment and pool settings) and through
// retryhttp over such a clone. The two run in turn in every -count
// round; compare them with
//
//	benchstat -col /transport
//
// whose delta is the transport's overhead as a share of a loopback
// request (BenchmarkOverhead measures the same cost without the
// network's noise).
func BenchmarkFirstAttempt(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	for _, name := range []string{"base", "retryhttp"} {
		b.Run("transport="+name, func(b *testing.B) {
			base := http.DefaultTransport.(*http.Transport).Clone()
			defer base.CloseIdleConnections()
			var rt http.RoundTripper = base
			if name == "retryhttp" {
				var err error
				if rt, err = retryhttp.NewTransport(base); err != nil {
					b.Fatal(err)
				}
			}
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// stub answers every request at once from memory, with one preallocated
// response: what is left of a round trip is the wrapper's own cost.
type stub struct{ resp http.Response }

func (s *stub) RoundTrip(*http.Request) (*http.Response, error) { return &s.resp, nil }

// BenchmarkOverhead: the wrapper's cost alone, in time and allocations,
// over a base that answers at once from memory; the POST carries an
// Idempotency-Key, the GET does not. The 2 allocations are the
// context that declares the request idempotent (retrysql.Idempotent) and
// the one retrysql.DoValue hands its operation.
func BenchmarkOverhead(b *testing.B) {
	for _, name := range []string{"base", "retryhttp"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			b.Run("transport="+name+"/method="+method, func(b *testing.B) {
				s := &stub{resp: http.Response{StatusCode: 200, Body: http.NoBody}}
				var rt http.RoundTripper = s
				if name == "retryhttp" {
					var err error
					if rt, err = retryhttp.NewTransport(s); err != nil {
						b.Fatal(err)
					}
				}
				req, _ := http.NewRequest(method, "http://service.internal/items", nil)
				if method == http.MethodPost {
					req.Header.Set("Idempotency-Key", "k")
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := rt.RoundTrip(req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkLoadAmplification: a service that answers 503 to everything,
// 50 clients sending GETs as fast as they can (each op is one request),
// through one Transport: the attempts the service receives per request.
// "budget" has the default budget and no breaker, "defaults" the default
// budget and breaker (requests the open breaker refuses wait for it,
// within the client's 100ms timeout). Run with -benchtime Nx: each run
// starts with a fresh budget, whose floor's burst (100 retries) weighs on
// short runs.
func BenchmarkLoadAmplification(b *testing.B) {
	for _, variant := range []struct {
		name string
		opts []retrysql.Option
	}{
		{"budget", []retrysql.Option{retrysql.WithBreaker(nil)}},
		{"defaults", nil},
	} {
		b.Run(variant.name, func(b *testing.B) {
			var attempts atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				attempts.Add(1)
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			base := &http.Transport{MaxIdleConnsPerHost: 64}
			defer base.CloseIdleConnections()
			rt, err := retryhttp.NewTransport(base, variant.opts...)
			if err != nil {
				b.Fatal(err)
			}
			client := &http.Client{Transport: rt, Timeout: 100 * time.Millisecond}
			var requests, answered atomic.Int64
			start := time.Now()
			b.SetParallelism(max(1, 50/runtimeProcs()))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					requests.Add(1)
					resp, err := client.Get(srv.URL)
					if err == nil {
						answered.Add(1)
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					} else if !expected(err) {
						b.Error(err)
					}
				}
			})
			elapsed := time.Since(start)
			st := rt.Stats()[srv.URL]
			b.ReportMetric(float64(attempts.Load())/float64(requests.Load()), "attempts/req")
			b.ReportMetric(float64(requests.Load())/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(st.BudgetDenials)/float64(requests.Load()), "denials/req")
			b.ReportMetric(float64(answered.Load())/float64(requests.Load()), "answered/req")
		})
	}
}

// expected reports whether err is how a request of
// BenchmarkLoadAmplification may end without a response: refused by the
// open breaker, or cut by the client's timeout (while it waited for the
// breaker, a retry or an answer).
func expected(err error) bool {
	var ue *url.Error
	return errors.Is(err, retrysql.ErrCircuitOpen) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || errors.As(err, &ue) && ue.Timeout()
}
