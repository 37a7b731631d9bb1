package retryhttp

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
)

// StatusError is the error of an attempt answered with a status that is
// retried: what hooks see (retrysql.Event.Err, errors.As reaches it). The
// caller of the transport never gets one: when retrying stops on such an
// answer, the response itself is returned.
type StatusError struct {
	// StatusCode is 429, 502, 503 or 504; Status its text ("503 Service
	// Unavailable").
	StatusCode int
	Status     string
	// RetryAfter is the wait the response's Retry-After header asked for,
	// 0 when it had none (or a date already past); HasRetryAfter tells
	// them apart.
	RetryAfter    time.Duration
	HasRetryAfter bool
}

// Error returns "retryhttp: 503 Service Unavailable", followed by the
// Retry-After asked for if any.
func (e *StatusError) Error() string {
	s := "retryhttp: " + e.Status
	if e.HasRetryAfter {
		s += " (Retry-After " + e.RetryAfter.String() + ")"
	}
	return s
}

// retried reports whether a response with status code is retried (for a
// request safe to send twice).
func retried(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// statusError returns the error of an attempt answered with resp, whose
// status is retried: transient, with the status code as its code
// (retrysql.WithCodeStrategy("503", ...) chooses its strategy), a
// failure of the server for the breaker unless it is 429 (the server is
// well, the client too fast), and the Retry-After hint.
func statusError(resp *http.Response) error {
	e := &StatusError{StatusCode: resp.StatusCode, Status: resp.Status}
	if e.Status == "" {
		e.Status = strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	}
	if v := resp.Header.Get("Retry-After"); v != "" {
		e.RetryAfter, e.HasRetryAfter = parseRetryAfter(v, time.Now())
	}
	res := classify.Result{Class: classify.Transient, Code: codeText(resp.StatusCode), Unavailable: resp.StatusCode != http.StatusTooManyRequests}
	err := retrysql.Classified(e, res)
	if e.HasRetryAfter {
		err = retrysql.RetryAfter(err, e.RetryAfter)
	}
	return err
}

func codeText(code int) string {
	switch code {
	case http.StatusTooManyRequests:
		return "429"
	case http.StatusBadGateway:
		return "502"
	case http.StatusServiceUnavailable:
		return "503"
	case http.StatusGatewayTimeout:
		return "504"
	}
	return strconv.Itoa(code)
}

// maxSeconds is the largest Retry-After in seconds that a Duration holds.
const maxSeconds = int64(1<<63-1) / int64(time.Second)

// parseRetryAfter reads a Retry-After header (RFC 9110 10.2.3): a number
// of seconds, or an HTTP date, whose wait from now is returned (0 for a
// date already past). ok is false for anything else; a number of seconds
// too large for a Duration is the longest Duration (which no maximum
// honours).
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return 0, false
			}
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > maxSeconds {
			return time.Duration(1<<63 - 1), true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
