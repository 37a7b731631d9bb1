package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine is left behind: a
// connection or a response body the program forgot.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// row is one request's row of the printed table.
type row struct {
	attempts int
	outcome  string
	why      string
}

// table reads the rows of the program's table by request.
func table(t *testing.T, out string) map[string]row {
	t.Helper()
	rows := map[string]row{}
	cols := regexp.MustCompile(`\s{2,}`)
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "GET ") && !strings.HasPrefix(line, "POST ") {
			continue
		}
		f := cols.Split(strings.TrimSpace(line), -1)
		if len(f) != 5 {
			t.Fatalf("row %q has %d columns, want 5", line, len(f))
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("row %q: attempts %q", line, f[1])
		}
		if _, err := time.ParseDuration(f[2]); err != nil {
			t.Fatalf("row %q: took %q", line, f[2])
		}
		rows[f[0]] = row{attempts: n, outcome: f[3], why: f[4]}
	}
	return rows
}

// TestRun runs the program against its own server and checks its table
// and what the server received.
func TestRun(t *testing.T) {
	srv := newFlaky()
	defer srv.Close()
	var out bytes.Buffer
	if err := run(&out, srv); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	rows := table(t, out.String())
	for _, want := range []struct {
		request  string
		attempts int
		outcome  string
		why      *regexp.Regexp
	}{
		{"GET /reset", 2, "200 OK", regexp.MustCompile(`^attempt 1: connection (reset|closed) \(conn-lost\): retried after `)},
		{"GET /busy", 2, "200 OK", regexp.MustCompile(`^attempt 1: 503 Service Unavailable, Retry-After 1s: retried after 1s$`)},
		{"GET /limited", 2, "200 OK", regexp.MustCompile(`^attempt 1: 429 Too Many Requests, Retry-After \S+: retried after (\S+)$`)},
		{"GET /maintenance", 1, "503 Service Unavailable", regexp.MustCompile(`^attempt 1: 503 Service Unavailable, Retry-After 1h0m0s; gave up: server asked to wait longer than the maximum$`)},
		{"POST /orders", 1, "ambiguous, sent once", regexp.MustCompile(`^attempt 1: connection (reset|closed) \(conn-lost\); gave up: outcome unknown, not retried$`)},
		{"POST /orders (Idempotency-Key)", 2, "201 Created", regexp.MustCompile(`^attempt 1: connection (reset|closed) \(conn-lost\): retried after `)},
	} {
		r, ok := rows[want.request]
		if !ok {
			t.Errorf("no row for %s", want.request)
			continue
		}
		if r.attempts != want.attempts || r.outcome != want.outcome || !want.why.MatchString(r.why) {
			t.Errorf("%s: %d attempts, %q, %q; want %d, %q, %v", want.request, r.attempts, r.outcome, r.why, want.attempts, want.outcome, want.why)
		}
	}
	// The date was two seconds ahead in whole seconds: a wait of one to
	// two seconds (a little less than one if the second turned between
	// the answer and its reading).
	if m := regexp.MustCompile(`retried after (\S+)$`).FindStringSubmatch(rows["GET /limited"].why); m != nil {
		if d, err := time.ParseDuration(m[1]); err != nil || d < 900*time.Millisecond || d > 2*time.Second {
			t.Errorf("the 429 with a date was retried after %s, want 1s to 2s", m[1])
		}
	}
	// The server's side: every request the table counts, and no order
	// recorded twice.
	for path, n := range map[string]int{"GET /reset": 2, "GET /busy": 2, "GET /limited": 2, "GET /maintenance": 1, "POST /orders": 3} {
		if got := srv.Requests(path); got != n {
			t.Errorf("the server received %s %d times, want %d", path, got, n)
		}
	}
	if o := srv.Orders(); len(o) != 2 || o[0] != `{"sku":7,"qty":1}` || o[1] != `{"sku":9,"qty":2}` {
		t.Errorf("orders recorded: %q", o)
	}
	if !strings.Contains(out.String(), "received POST /orders 3 times and recorded 2 orders") {
		t.Errorf("the summary lacks the server's counts:\n%s", out.String())
	}
}
