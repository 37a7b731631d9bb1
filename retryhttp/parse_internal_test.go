package retryhttp

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v  string
		d  time.Duration
		ok bool
	}{
		{"0", 0, true},
		{"1", time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"99999999999999999999", 1<<63 - 1, true},
		{"9223372037", 1<<63 - 1, true}, // one second more than a Duration holds
		{"9223372036", 9223372036 * time.Second, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sunday, 01-Mar-26 12:00:05 GMT", 5 * time.Second, true}, // RFC 850
		{"Sun Mar  1 12:00:07 2026", 7 * time.Second, true},       // asctime
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"1s", 0, false},
	} {
		d, ok := parseRetryAfter(tc.v, now)
		if d != tc.d || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.v, d, ok, tc.d, tc.ok)
		}
	}
}

func TestReplayable(t *testing.T) {
	for _, tc := range []struct {
		method string
		header string
		want   bool
	}{
		{"GET", "", true}, {"", "", true}, {"HEAD", "", true}, {"OPTIONS", "", true}, {"TRACE", "", true},
		{"PUT", "", true}, {"DELETE", "", true},
		{"POST", "", false}, {"PATCH", "", false}, {"CONNECT", "", false},
		{"POST", "Idempotency-Key", true}, {"PATCH", "X-Idempotency-Key", true},
	} {
		req := &http.Request{Method: tc.method, Header: http.Header{}}
		if tc.header != "" {
			req.Header[tc.header] = nil // as net/http reads it: present, even without a value
		}
		if got := replayable(req); got != tc.want {
			t.Errorf("%s with %q: replayable %v", tc.method, tc.header, got)
		}
	}
}
