// Command http fetches from a flaky local HTTP server through
// retryhttp.NewTransport and prints, in a short table, what was retried
// and why (as the transport's hooks report it), what was not retried,
// and what was sent once and reported ambiguous.
//
//	go run ./examples/http
//
// The server (server.go) resets a connection, answers 503 with a
// Retry-After in seconds, 429 with a Retry-After as an HTTP date, 503
// with a Retry-After of an hour, and loses the answer to a POST it has
// processed, with and without an Idempotency-Key. The program runs in
// about three seconds, most of it waiting as the server asked.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/retryhttp"
)

func main() {
	srv := newFlaky()
	defer srv.Close()
	if err := run(os.Stdout, srv); err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		os.Exit(1)
	}
}

// run fetches every request of the program from srv and prints the table.
func run(w io.Writer, srv *flaky) error {
	fetches, err := fetchAll(srv.URL)
	if err != nil {
		return err
	}
	printTable(w, srv, fetches)
	return nil
}

// fetch is one request of the program and what became of it.
type fetch struct {
	Method, Path, Body string
	Key                string // its Idempotency-Key, if any

	Status  string // the response's, if there was one
	Err     error  // the error, if there was none
	Notes   []note // what the hooks said, in turn
	Elapsed time.Duration
}

// note is what a hook said of a failed attempt: retried after Delay
// (OnRetry), or not retried because of GaveUp (OnGiveUp).
type note struct {
	Attempt int
	Why     string
	Delay   time.Duration
	GaveUp  string
}

// Attempts is the number of attempts the transport made: one, plus one
// for every retry.
func (f *fetch) Attempts() int {
	n := 1
	for _, nt := range f.Notes {
		if nt.GaveUp == "" {
			n++
		}
	}
	return n
}

type fetchKey struct{}

// fetchAll sends the program's requests, one after the other, through a
// retryhttp Transport whose hooks note, in each request's fetch, what
// happened to its attempts.
func fetchAll(url string) ([]*fetch, error) {
	var mu sync.Mutex
	record := func(e retrysql.Event, n note) {
		if f, ok := e.Ctx.Value(fetchKey{}).(*fetch); ok {
			mu.Lock()
			f.Notes = append(f.Notes, n)
			mu.Unlock()
		}
	}
	// Every attempt on a connection of its own: net/http itself sends a
	// GET, or a request with an Idempotency-Key, once more when a
	// connection it reused breaks, silently; without keep-alives every
	// retry the table shows is retryhttp's, and so is every request the
	// server counts.
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.DisableKeepAlives = true
	rt, err := retryhttp.NewTransport(base,
		retrysql.WithOnRetry(func(e retrysql.Event) {
			record(e, note{Attempt: e.Attempt, Why: why(e), Delay: e.Delay})
		}),
		retrysql.WithOnGiveUp(func(e retrysql.Event) {
			record(e, note{Attempt: e.Attempt, Why: why(e), GaveUp: e.Reason.String()})
		}),
	)
	if err != nil {
		return nil, err
	}
	defer rt.CloseIdleConnections()
	client := &http.Client{Transport: rt, Timeout: 30 * time.Second}

	fetches := []*fetch{
		{Method: http.MethodGet, Path: "/reset"},
		{Method: http.MethodGet, Path: "/busy"},
		{Method: http.MethodGet, Path: "/limited"},
		{Method: http.MethodGet, Path: "/maintenance"},
		{Method: http.MethodPost, Path: "/orders", Body: `{"sku":7,"qty":1}`},
		{Method: http.MethodPost, Path: "/orders", Body: `{"sku":9,"qty":2}`, Key: "order-9-2"},
	}
	for _, f := range fetches {
		if err := f.do(client, url); err != nil {
			return nil, err
		}
	}
	return fetches, nil
}

// do sends f's request with client and notes the outcome in f.
func (f *fetch) do(client *http.Client, url string) error {
	var body io.Reader
	if f.Body != "" {
		body = strings.NewReader(f.Body) // rewindable: http.NewRequest sets GetBody
	}
	ctx := context.WithValue(context.Background(), fetchKey{}, f)
	req, err := http.NewRequestWithContext(ctx, f.Method, url+f.Path, body)
	if err != nil {
		return err
	}
	if f.Key != "" {
		req.Header.Set("Idempotency-Key", f.Key)
	}
	start := time.Now()
	resp, err := client.Do(req)
	f.Elapsed = time.Since(start)
	if err != nil {
		f.Err = err
		return nil
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	f.Status = resp.Status
	return nil
}

// why says in a few words why an attempt failed.
func why(e retrysql.Event) string {
	var se *retryhttp.StatusError
	if errors.As(e.Err, &se) {
		s := se.Status
		if se.HasRetryAfter {
			s += ", Retry-After " + se.RetryAfter.Round(10*time.Millisecond).String()
		}
		return s
	}
	switch {
	case errors.Is(e.Err, syscall.ECONNRESET):
		return "connection reset (" + e.Result.Class.String() + ")"
	case errors.Is(e.Err, io.EOF), errors.Is(e.Err, io.ErrUnexpectedEOF):
		return "connection closed (" + e.Result.Class.String() + ")"
	}
	return e.Err.Error()
}

// outcome says what the caller got.
func (f *fetch) outcome() string {
	switch {
	case f.Err == nil:
		return f.Status
	case errors.Is(f.Err, retrysql.ErrAmbiguous):
		return "ambiguous, sent once"
	}
	return "error: " + f.Err.Error()
}

// name is the request as the table shows it.
func (f *fetch) name() string {
	s := f.Method + " " + f.Path
	if f.Key != "" {
		s += " (Idempotency-Key)"
	}
	return s
}

// printTable prints one row per request, with a line per failed
// attempt, then what the server saw of the orders.
func printTable(w io.Writer, srv *flaky, fetches []*fetch) {
	fmt.Fprintf(w, "Fetching from a flaky server at %s through retryhttp:\n\n", srv.URL)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUEST\tATTEMPTS\tTOOK\tOUTCOME\tWHY")
	for _, f := range fetches {
		first := fmt.Sprintf("%s\t%d\t%v\t%s\t", f.name(), f.Attempts(), f.Elapsed.Round(10*time.Millisecond), f.outcome())
		if len(f.Notes) == 0 {
			fmt.Fprintln(tw, first+"answered at once")
		}
		for i, n := range f.Notes {
			line := fmt.Sprintf("attempt %d: %s", n.Attempt, n.Why)
			if n.GaveUp != "" {
				line += "; gave up: " + n.GaveUp
			} else {
				line += ": retried after " + n.Delay.Round(10*time.Millisecond).String()
			}
			if i > 0 {
				first = "\t\t\t\t"
			}
			fmt.Fprintln(tw, first+line)
		}
	}
	tw.Flush()
	orders := srv.Orders()
	fmt.Fprintf(w, "\nThe server received POST /orders %d times and recorded %d orders: %s.\n",
		srv.Requests("POST /orders"), len(orders), strings.Join(orders, ", "))
	fmt.Fprintln(w, "The order without a key was sent once: the client cannot know it was recorded.")
	fmt.Fprintln(w, "The order with a key was sent twice and recorded once: the server knew the key.")
}
