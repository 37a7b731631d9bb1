package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunPrintsEveryStrategy(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 2000, 1, 10); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"fixed 100ms", "linear 100ms +100ms", "exponential ×2", "full jitter", "equal jitter", "decorrelated", "median"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	// The deterministic rows are exact.
	for _, want := range []string{
		"10ms  20ms  40ms  80ms  160ms  320ms  640ms  1s  1s  1s",
		"100ms  200ms  300ms  400ms  500ms  600ms  700ms  800ms  900ms  1s",
	} {
		if !strings.Contains(strings.Join(strings.Fields(s), "  "), want) {
			t.Errorf("output lacks the row %q:\n%s", want, s)
		}
	}
	// No jittered maximum exceeds the cap.
	if strings.Contains(s, "1.01s") || strings.Contains(s, "2s") {
		t.Errorf("a delay above the 1s cap:\n%s", s)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][3]int{{0, 1, 10}, {10, 1, 0}, {10, 1, 5000}} {
		if err := run(&out, args[0], uint64(args[1]), args[2]); err == nil {
			t.Errorf("run(%v) accepted bad flags", args)
		}
	}
}
