package retrysql_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/retrysql/retrysql"
)

// TestTransact drives Transact with a transaction API of its own: replays
// after a conflict, an unknown COMMIT, an attempt that forgets to commit.
func TestTransact(t *testing.T) {
	r := newRetrier(t, nil)
	opt := retrysql.WithRetrier(r)
	runs, commits := 0, 0
	err := retrysql.Transact(t.Context(), false, func(ctx context.Context, a retrysql.TxAttempt) error {
		runs++
		if runs < 3 {
			return serialization // the work failed: roll back (nothing to do here) and return it
		}
		return a.Commit(func() error { commits++; return nil })
	}, opt)
	if err != nil || runs != 3 || commits != 1 {
		t.Fatalf("%v after %d runs, %d commits", err, runs, commits)
	}
	runs = 0
	err = retrysql.Transact(t.Context(), false, func(ctx context.Context, a retrysql.TxAttempt) error {
		runs++
		return a.Commit(func() error { return io.ErrUnexpectedEOF })
	}, opt)
	if !errors.Is(err, retrysql.ErrAmbiguousCommit) || runs != 1 {
		t.Fatalf("lost COMMIT: %v after %d runs", err, runs)
	}
	// Read-only: a lost COMMIT is harmless, replayed.
	runs = 0
	err = retrysql.Transact(t.Context(), true, func(ctx context.Context, a retrysql.TxAttempt) error {
		runs++
		return a.Commit(func() error {
			if runs == 1 {
				return io.ErrUnexpectedEOF
			}
			return nil
		})
	}, opt)
	if err != nil || runs != 2 {
		t.Fatalf("read-only: %v after %d runs", err, runs)
	}
	err = retrysql.Transact(t.Context(), false, func(context.Context, retrysql.TxAttempt) error { return nil }, opt)
	if err == nil || !strings.Contains(err.Error(), "without committing") {
		t.Fatalf("no commit: %v", err)
	}
	err = retrysql.Transact(t.Context(), false, func(ctx context.Context, a retrysql.TxAttempt) error {
		return a.EndedByFn(true, nil)
	}, opt)
	if !errors.Is(err, retrysql.ErrTxEndedByFn) {
		t.Fatalf("ended by fn: %v", err)
	}
}
