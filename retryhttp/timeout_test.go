package retryhttp_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
)

// stallFirst answers the first request only when the client gives up on
// it, and the others with a body that comes slowly, in two parts.
func stallFirst(w http.ResponseWriter, r *http.Request, n int) {
	if n == 1 {
		<-r.Context().Done()
		return
	}
	io.WriteString(w, "slow ")
	http.NewResponseController(w).Flush()
	time.Sleep(300 * time.Millisecond)
	io.WriteString(w, "body")
}

// TestAttemptTimeout: an attempt that gets no response in time is a lost
// connection: a GET is sent again, and the bound covers the headers
// only: the body of the response returned is read after it.
func TestAttemptTimeout(t *testing.T) {
	t.Parallel()
	s := newServer(t, stallFirst)
	ev := &events{}
	client, _ := newClient(t, nil, retrysql.WithAttemptTimeout(100*time.Millisecond), ev.option())
	resp, err := client.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); body != "slow body" || s.requests.Load() != 2 {
		t.Fatalf("%q after %d requests", body, s.requests.Load())
	}
	if e := ev.list(); len(e) != 1 || !errors.Is(e[0].Err, retrysql.ErrAttemptTimeout) {
		t.Fatalf("retries %+v", e)
	}
}

// TestAttemptTimeoutOfAPost: a POST without a key that got no response
// in time may have been processed: ErrAmbiguous, sent once.
func TestAttemptTimeoutOfAPost(t *testing.T) {
	t.Parallel()
	s := newServer(t, stallFirst)
	client, _ := newClient(t, nil, retrysql.WithAttemptTimeout(100*time.Millisecond))
	resp, err := client.Post(s.URL, "text/plain", strings.NewReader("order"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %s", resp.Status)
	}
	if !errors.Is(err, retrysql.ErrAmbiguous) || !errors.Is(err, retrysql.ErrAttemptTimeout) || s.requests.Load() != 1 {
		t.Fatalf("got %v after %d requests", err, s.requests.Load())
	}
}

// TestCallerCancellationEndsAtOnce: the caller's own deadline is not an
// attempt timeout: the request ends with the context's error.
func TestCallerDeadlineIsNotRetried(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { <-r.Context().Done() })
	client, _ := newClient(t, nil, retrysql.WithAttemptTimeout(time.Second))
	client.Timeout = 100 * time.Millisecond
	resp, err := client.Get(s.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %s", resp.Status)
	}
	if errors.Is(err, retrysql.ErrAttemptTimeout) || s.requests.Load() != 1 {
		t.Fatalf("got %v after %d requests", err, s.requests.Load())
	}
}
