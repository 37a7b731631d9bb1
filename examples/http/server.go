package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// flaky is the local server the program fetches from. Each path fails in
// its own way, the first time (or always), then answers:
//
//	GET /reset         the first request's connection is reset before any answer
//	GET /busy          the first request is answered 503 with Retry-After: 1 (seconds)
//	GET /limited       the first request is answered 429 with Retry-After as an HTTP date, 2s ahead
//	GET /maintenance   always 503 with Retry-After: 3600, an hour
//	POST /orders       records the order, then loses the answer (resets the
//	                   connection) the first time it sees an order; an
//	                   order sent again with the same Idempotency-Key is
//	                   answered from the record, not recorded twice
type flaky struct {
	*httptest.Server

	mu       sync.Mutex
	requests map[string]int    // by "METHOD /path"
	orders   []string          // the orders recorded, in turn
	byKey    map[string]string // Idempotency-Key → the order's number
}

func newFlaky() *flaky {
	f := &flaky{requests: map[string]int{}, byKey: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /reset", f.reset)
	mux.HandleFunc("GET /busy", f.busy)
	mux.HandleFunc("GET /limited", f.limited)
	mux.HandleFunc("GET /maintenance", f.maintenance)
	mux.HandleFunc("POST /orders", f.order)
	f.Server = httptest.NewServer(mux)
	return f
}

// count notes a request and returns how many the server has had for its
// method and path, itself included.
func (f *flaky) count(r *http.Request) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := r.Method + " " + r.URL.Path
	f.requests[k]++
	return f.requests[k]
}

// Requests returns how many requests the server has had for method and
// path ("POST /orders").
func (f *flaky) Requests(methodPath string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[methodPath]
}

// Orders returns the orders recorded.
func (f *flaky) Orders() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.orders...)
}

func (f *flaky) reset(w http.ResponseWriter, r *http.Request) {
	if f.count(r) == 1 {
		resetConn(w)
		return
	}
	io.WriteString(w, "catalogue\n")
}

func (f *flaky) busy(w http.ResponseWriter, r *http.Request) {
	if f.count(r) == 1 {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "restarting", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "report\n")
}

func (f *flaky) limited(w http.ResponseWriter, r *http.Request) {
	if f.count(r) == 1 {
		w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	}
	io.WriteString(w, "quota\n")
}

func (f *flaky) maintenance(w http.ResponseWriter, r *http.Request) {
	f.count(r)
	w.Header().Set("Retry-After", "3600")
	http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
}

func (f *flaky) order(w http.ResponseWriter, r *http.Request) {
	f.count(r)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	key := r.Header.Get("Idempotency-Key")
	f.mu.Lock()
	number, seen := f.byKey[key]
	if !seen {
		f.orders = append(f.orders, string(body))
		number = strconv.Itoa(len(f.orders))
		if key != "" {
			f.byKey[key] = number
		}
	}
	f.mu.Unlock()
	if !seen {
		resetConn(w) // recorded, but the answer is lost
		return
	}
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "order %s\n", number)
}

// resetConn ends the request's connection with a TCP reset, without an
// answer.
func resetConn(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
