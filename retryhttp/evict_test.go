package retryhttp_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/retrysql/retrysql/retryhttp"
)

// memory is a base transport in memory, for tests in a synctest bubble:
// it answers every request with status (200 if 0), after hold if set.
type memory struct {
	status int
	hold   func(req *http.Request)

	mu    sync.Mutex
	count map[string]int // requests by host
}

func (m *memory) RoundTrip(req *http.Request) (*http.Response, error) {
	m.mu.Lock()
	if m.count == nil {
		m.count = map[string]int{}
	}
	m.count[req.URL.Host]++
	m.mu.Unlock()
	if m.hold != nil {
		m.hold(req)
	}
	code := m.status
	if code == 0 {
		code = http.StatusOK
	}
	return &http.Response{StatusCode: code, Status: fmt.Sprint(code, " ", http.StatusText(code)),
		Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

func (m *memory) requests(host string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.count[host]
}

func get(t *testing.T, rt http.RoundTripper, url string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Error(err)
		return
	}
	resp.Body.Close()
}

// TestIdleHostsAreForgotten: hosts with no request for IdleHostTimeout
// are forgotten; one in use is kept, and the sweeps stop once no host is
// left. The first host arms the sweeps: at 5, 10, 15... minutes.
func TestIdleHostsAreForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, err := retryhttp.NewTransport(&memory{}, fast...)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			get(t, tr, fmt.Sprintf("http://h%d.example/", i))
		}
		busy := retryhttp.RetrierOf(tr, "http://h0.example/")
		if n := len(tr.Stats()); n != 100 || !retryhttp.Sweeping(tr) {
			t.Fatalf("%d hosts known (sweeping %v), want 100", n, retryhttp.Sweeping(tr))
		}
		// h0 is used every minute until 9 minutes; the others not at all:
		// the sweep at 5 minutes keeps them (used since 0), the one at 10
		// forgets them.
		for range 9 {
			time.Sleep(time.Minute)
			get(t, tr, "http://h0.example/")
			if n := len(tr.Stats()); n != 100 {
				t.Fatalf("%d hosts known before the second sweep, want 100", n)
			}
		}
		time.Sleep(time.Minute + time.Second)
		if st := tr.Stats(); len(st) != 1 || retryhttp.RetrierOf(tr, "http://h0.example/") != busy || st["http://h0.example"].Attempts != 10 {
			t.Fatalf("after the second sweep: %d hosts known, want h0 alone, with its Retrier (%v)", len(st), st)
		}
		// h0 stops: forgotten by the sweep at 15 minutes, after which the
		// sweeps stop.
		time.Sleep(2*retryhttp.IdleHostTimeout + time.Second)
		if n := len(tr.Stats()); n != 0 || retryhttp.Sweeping(tr) {
			t.Fatalf("%d hosts known (sweeping %v), want none", n, retryhttp.Sweeping(tr))
		}
		// A forgotten host comes back with a new Retrier.
		get(t, tr, "http://h0.example/")
		if r := retryhttp.RetrierOf(tr, "http://h0.example/"); r == nil || r == busy || r.Stats().Attempts != 1 || !retryhttp.Sweeping(tr) {
			t.Fatalf("h0 back: a new Retrier %v, sweeping %v", r != busy, retryhttp.Sweeping(tr))
		}
	})
}

// TestIdleHostForgottenWithinBounds: a host is forgotten no sooner than
// IdleHostTimeout after its last request, and no later than twice that.
func TestIdleHostForgottenWithinBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, err := retryhttp.NewTransport(&memory{}, fast...)
		if err != nil {
			t.Fatal(err)
		}
		const timeout = retryhttp.IdleHostTimeout
		get(t, tr, "http://a.example/") // at 0: sweeps at 5, 10, 15 minutes
		time.Sleep(timeout - time.Second)
		get(t, tr, "http://b.example/") // 1s before the first sweep
		time.Sleep(2 * time.Second)
		get(t, tr, "http://c.example/") // 1s after it
		time.Sleep(timeout - 2*time.Second)
		if n := len(tr.Stats()); n != 3 {
			t.Fatalf("%d hosts known 1s before b's timeout, want 3", n)
		}
		time.Sleep(2 * time.Second)
		if st := tr.Stats(); len(st) != 1 || st["http://c.example"].Attempts != 1 {
			t.Fatalf("hosts %v after the second sweep, want c alone", st)
		}
		time.Sleep(timeout)
		if n := len(tr.Stats()); n != 0 {
			t.Fatalf("%d hosts known 2×IdleHostTimeout after c's request, want none", n)
		}
	})
}

// TestHostInFlightKeepsItsState: a host with a request in flight is
// never forgotten, however long the request: its Retrier (budget,
// breaker, counters) is the same before, during and after, here for a
// service that answers 503 and opens its breaker.
func TestHostInFlightKeepsItsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		m := &memory{status: http.StatusServiceUnavailable, hold: func(req *http.Request) {
			if req.URL.Host == "slow.example" {
				<-gate
			}
		}}
		tr, err := retryhttp.NewTransport(m, fast...)
		if err != nil {
			t.Fatal(err)
		}
		get(t, tr, "http://down.example/")
		down := retryhttp.RetrierOf(tr, "http://down.example/")
		if st := down.Stats(); st.BreakerRejections == 0 && st.BreakerWaits == 0 {
			t.Fatalf("the breaker of a host answering 503 never refused: %+v", st)
		}
		var (
			wg   sync.WaitGroup
			once sync.Once
		)
		release := func() { once.Do(func() { close(gate) }) }
		defer wg.Wait()
		defer release() // on a failure too
		wg.Go(func() { get(t, tr, "http://slow.example/") })
		synctest.Wait()
		slow := retryhttp.RetrierOf(tr, "http://slow.example/")
		// down is used every 30s, slow's request hangs for 3 sweeps.
		for range 3 * int(retryhttp.IdleHostTimeout/(30*time.Second)) {
			time.Sleep(30 * time.Second)
			get(t, tr, "http://down.example/")
			if retryhttp.RetrierOf(tr, "http://down.example/") != down || retryhttp.RetrierOf(tr, "http://slow.example/") != slow {
				t.Fatal("a host in use was forgotten")
			}
		}
		time.Sleep(time.Second)
		release() // at 15:01, after the third sweep
		wg.Wait()
		time.Sleep(retryhttp.IdleHostTimeout - time.Second)
		if retryhttp.RetrierOf(tr, "http://slow.example/") != slow {
			t.Fatal("a host forgotten less than IdleHostTimeout after its request ended")
		}
		if st := down.Stats(); int(st.Attempts) != m.requests("down.example") {
			t.Fatalf("down's Retrier counted %d attempts, the service saw %d", st.Attempts, m.requests("down.example"))
		}
		if st := tr.Stats()["http://slow.example"]; st.Attempts == 0 || int(st.Attempts) != m.requests("slow.example") {
			t.Fatalf("slow's Retrier counted %d attempts, the service saw %d", st.Attempts, m.requests("slow.example"))
		}
	})
}

// TestSweepsRaceRequests: requests of random lengths to a few hosts, by
// many goroutines, while sweeps run: no request's host is forgotten or
// replaced while the request is in flight.
func TestSweepsRaceRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tr *retryhttp.Transport
		m := &memory{hold: func(req *http.Request) {
			r := retryhttp.RetrierOf(tr, req.URL.String())
			time.Sleep(rand.N(3 * retryhttp.IdleHostTimeout))
			if r == nil || retryhttp.RetrierOf(tr, req.URL.String()) != r {
				t.Errorf("%s: host forgotten or replaced in flight", req.URL.Host)
			}
		}}
		var err error
		if tr, err = retryhttp.NewTransport(m, fast...); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for range 10 {
					time.Sleep(rand.N(4 * retryhttp.IdleHostTimeout))
					get(t, tr, fmt.Sprintf("http://h%d.example/", g%8))
				}
			})
		}
		wg.Wait()
		time.Sleep(2*retryhttp.IdleHostTimeout + time.Second)
		if n := len(tr.Stats()); n != 0 || retryhttp.Sweeping(tr) {
			t.Fatalf("%d hosts known after the last request (sweeping %v)", n, retryhttp.Sweeping(tr))
		}
	})
}
