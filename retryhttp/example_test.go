package retryhttp_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/retryhttp"
	"github.com/retrysql/retrysql/strategy"
)

func ExampleNewTransport() {
	// A service that is unavailable for its first two requests.
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "report ready")
	}))
	defer srv.Close()

	rt, err := retryhttp.NewTransport(http.DefaultTransport,
		retrysql.WithStrategy(classify.Transient, strategy.Fixed{Interval: 10 * time.Millisecond}),
		retrysql.WithOnRetry(func(e retrysql.Event) {
			fmt.Printf("attempt %d: %v (%s), retrying\n", e.Attempt, e.Err, e.Result)
		}))
	if err != nil {
		panic(err)
	}
	defer rt.CloseIdleConnections()
	client := &http.Client{Transport: rt, Timeout: 5 * time.Second}

	resp, err := client.Get(srv.URL + "/report")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	// Output:
	// attempt 1: retryhttp: 503 Service Unavailable (transient 503 unavailable), retrying
	// attempt 2: retryhttp: 503 Service Unavailable (transient 503 unavailable), retrying
	// 200 OK report ready
}

func ExampleNewTransport_post() {
	// A service that loses the response of every request it processes.
	var processed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		processed.Add(1)
		c, _, _ := http.NewResponseController(w).Hijack()
		c.Close()
	}))
	defer srv.Close()

	rt, err := retryhttp.NewTransport(nil)
	if err != nil {
		panic(err)
	}
	defer rt.CloseIdleConnections()
	client := &http.Client{Transport: rt}

	// Without an Idempotency-Key a POST is sent once: it may have been
	// processed.
	_, err = client.Post(srv.URL+"/orders", "application/json", strings.NewReader(`{"sku":7}`))
	fmt.Println(errors.Is(err, retrysql.ErrAmbiguous), processed.Load())
	// Output: true 1
}

func ExampleStatusError() {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()

	rt, err := retryhttp.NewTransport(nil, retrysql.WithOnRetry(func(e retrysql.Event) {
		var se *retryhttp.StatusError
		if errors.As(e.Err, &se) {
			fmt.Println(se.StatusCode, se.HasRetryAfter, se.RetryAfter)
		}
	}))
	if err != nil {
		panic(err)
	}
	defer rt.CloseIdleConnections()
	resp, err := (&http.Client{Transport: rt}).Get(srv.URL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// 429 true 0s
	// 200
}
