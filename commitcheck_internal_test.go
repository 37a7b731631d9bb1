package retrysql

import (
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestMarkerCleanupKeepsPace: a handle cleans at its first commit, then at
// most once every cleanEvery, in batches at least twice the markers it
// committed meanwhile; a full batch makes the next commit clean again.
func TestMarkerCleanupKeepsPace(t *testing.T) {
	var m markerState
	t0 := time.Unix(1_000_000, 0)
	if n := m.cleanup(t0); n != minCleanup {
		t.Fatalf("first commit: batch %d, want %d", n, minCleanup)
	}
	for i := 1; i < 30_000; i++ {
		if n := m.cleanup(t0.Add(time.Duration(i) * time.Millisecond)); n != 0 {
			t.Fatalf("commit %d within the minute: batch %d, want none", i, n)
		}
	}
	// 29,999 markers committed since, and this one: a batch of twice that.
	if n := m.cleanup(t0.Add(cleanEvery)); n != 2*30_000 {
		t.Fatalf("after a minute: batch %d, want %d", n, 2*30_000)
	}
	if n := m.cleanup(t0.Add(cleanEvery + time.Second)); n != 0 {
		t.Fatalf("right after: batch %d, want none", n)
	}
	m.again()
	if n := m.cleanup(t0.Add(cleanEvery + 2*time.Second)); n != minCleanup {
		t.Fatalf("after a full batch: batch %d, want %d at the next commit", n, minCleanup)
	}
}

// TestStatusFailed: txid_status's error settles a look only when it is an
// answer about the transaction; a server going away under the question is
// asked again (CI saw a 57P01 of a restart turn a COMMIT that never
// reached the server into an unknown outcome).
func TestStatusFailed(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want verdict
	}{
		{&pgconn.PgError{Severity: "ERROR", Code: "22023", Message: "transaction ID 900 is in the future"}, notCommitted},
		{&pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}, lookAgain},
		{&pgconn.PgError{Severity: "FATAL", Code: "57P03", Message: "the database system is starting up"}, lookAgain},
		{io.ErrUnexpectedEOF, lookAgain},
		{&pgconn.PgError{Severity: "ERROR", Code: "42501", Message: "permission denied for function txid_status"}, unknowable},
	} {
		if got := statusFailed(tc.err); got != tc.want {
			t.Errorf("%v: verdict %d, want %d", tc.err, got, tc.want)
		}
	}
}
