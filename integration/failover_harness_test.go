package integration_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/retrysql/retrysql/integration/dbtest"
	"github.com/retrysql/retrysql/integration/failover"
)

// The harness itself, on a PostgreSQL of the test's own with no fault:
// runners that apply each transfer twice, drop it, or commit it and then
// fail are counted as doubled, lost, ambiguous and committed, or failed
// yet committed; a runner that retries is placed attempt by attempt; the
// probe and a second DSN's writers are measured.
func TestFailoverHarness(t *testing.T) {
	inst := dbtest.StartPostgres(t)
	errAfterCommit := errors.New("failed after COMMIT")
	errBegin, errCommit := errors.New("refused before fn"), errors.New("refused at COMMIT")
	twice := func(ctx context.Context, db *sql.DB, fn func(context.Context, *sql.Tx) error) error {
		if err := failover.RawTx(ctx, db, fn); err != nil {
			return err
		}
		return failover.RawTx(ctx, db, fn)
	}
	dropped := func(ctx context.Context, db *sql.DB, fn func(context.Context, *sql.Tx) error) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(ctx, tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Rollback()
	}
	committedThenFailed := func(ctx context.Context, db *sql.DB, fn func(context.Context, *sql.Tx) error) error {
		if err := failover.RawTx(ctx, db, fn); err != nil {
			return err
		}
		return errAfterCommit
	}
	// placed fails three attempts (before fn, in fn, after fn), each
	// reported with failover.Retried, then commits.
	placed := func(ctx context.Context, db *sql.DB, fn func(context.Context, *sql.Tx) error) error {
		failover.Retried(ctx, errBegin)
		for _, after := range []error{nil, errCommit} {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if after == nil {
				tx.Rollback() // fn's statements fail: sql.ErrTxDone
			}
			err = fn(ctx, tx)
			tx.Rollback()
			if after != nil {
				err = after
			}
			failover.Retried(ctx, err)
		}
		return failover.RawTx(ctx, db, fn)
	}
	for _, tc := range []struct {
		name      string
		run       failover.TxRunner
		ambiguous func(error) bool
		check     func(r *failover.Report) bool
	}{
		{"plain", failover.RawTx, nil, func(r *failover.Report) bool {
			return r.Failed == 0 && r.Lost == 0 && r.Doubled == 0 && r.Recovered && r.AllBackOK && len(r.TxFailures) == 0
		}},
		{"twice", twice, nil, func(r *failover.Report) bool { return r.Failed == 0 && r.Doubled == r.Transfers && r.Lost == 0 }},
		{"dropped", dropped, nil, func(r *failover.Report) bool { return r.Failed == 0 && r.Lost == r.Transfers && r.Doubled == 0 }},
		{"ambiguous", committedThenFailed, func(err error) bool { return errors.Is(err, errAfterCommit) }, func(r *failover.Report) bool {
			return r.Failed == r.Transfers && r.Ambiguous == r.Transfers && r.AmbiguousCommitted == r.Transfers && r.FailedCommitted == 0 &&
				r.TxFailed(failover.AtCommit, errAfterCommit.Error()) == r.Transfers
		}},
		{"failed yet committed", committedThenFailed, nil, func(r *failover.Report) bool {
			return r.Failed == r.Transfers && r.Ambiguous == 0 && r.FailedCommitted == r.Transfers
		}},
		{"placed", placed, nil, func(r *failover.Report) bool {
			return r.Failed == 0 && r.Lost == 0 && r.Doubled == 0 &&
				r.TxFailed(failover.AtBegin, errBegin.Error()) == r.Transfers &&
				r.TxFailed(failover.AtStatement, sql.ErrTxDone.Error()) == r.Transfers &&
				r.TxFailed(failover.AtCommit, errCommit.Error()) == r.Transfers && len(r.TxFailures) == 3
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := failover.Run(ctx, failover.Scenario{
				Name: tc.name, Dialect: failover.Postgres, DSN: inst.DSN(), Second: inst.DSN(), Open: rawOpener("pgx"),
				RunInTx: tc.run, Ambiguous: tc.ambiguous, Probe: []string{inst.DSN()},
				Primary: func(context.Context) (*sql.DB, error) { return sql.Open("pgx", inst.DSN()) },
				Fault:   func(context.Context) error { return nil },
				Workers: 4, Before: 300 * time.Millisecond, Settle: 300 * time.Millisecond, Wait: 5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Transfers == 0 || rep.Inserts == 0 || !rep.Consistent() || rep.ProbeErr != nil || rep.Cluster < rep.FaultTook || !tc.check(rep) {
				t.Errorf("%s", rep)
			}
		})
	}
}
