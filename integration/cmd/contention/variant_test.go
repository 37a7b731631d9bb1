package main

import "testing"

// TestParseVariant: -variants settings are read in their one order, and
// anything else is refused with an error.
func TestParseVariant(t *testing.T) {
	for _, tc := range []struct {
		in          string
		name        string
		hot, fleet  bool
		queue       float64
		start       int
		wantFailure bool
	}{
		{in: "t0.2q2w16", name: "admission t0.2 q2 w16", queue: 2},
		{in: "t0.3q1.5w32hf", name: "admission t0.3 q1.5 w32 hot keys + fleet gate", hot: true, fleet: true, queue: 1.5},
		{in: "t0.3q-1w32f", name: "admission t0.3 q-1 w32 + fleet gate", fleet: true, queue: -1},
		{in: "t0.3q2w32h", name: "admission t0.3 q2 w32 hot keys", hot: true, queue: 2},
		{in: "t0.3q2w32s1hf", name: "admission t0.3 q2 w32 s1 hot keys + fleet gate", hot: true, fleet: true, queue: 2, start: 1},
		{in: "t0.3q2w32hh", wantFailure: true},
		{in: "t0.3q2w32fh", wantFailure: true},
		{in: "t0.3q2w32s0", wantFailure: true},
		{in: "t0.3q2w32x", wantFailure: true},
		{in: "t0.3q2", wantFailure: true},
		{in: "t1.5q2w32", wantFailure: true},
		{in: "t0.3q2w0", wantFailure: true},
		{in: "", wantFailure: true},
	} {
		set, name, err := parseVariant(tc.in)
		if tc.wantFailure {
			if err == nil {
				t.Errorf("%q: no error, got %+v", tc.in, set)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if name != tc.name || set.AdmitHotOnly != tc.hot || (set.Fleet != "") != tc.fleet || set.QueueThreshold != tc.queue || set.StartLimit != tc.start {
			t.Errorf("%q: %q %+v", tc.in, name, set)
		}
	}
}
