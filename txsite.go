package retrysql

import (
	"context"
	"database/sql"
	"errors"

	"github.com/retrysql/retrysql/classify"
)

// txSite is the site of a whole transaction run by RunInTx, and the state
// of one RunInTx: its opCtx (handed to every attempt), what the
// connection reports of each attempt (txFacts), and its admission.
//
// Transient and tx-aborted errors are replayed, as is a lost connection
// before COMMIT was sent (the transaction went with it) or in a read-only
// transaction. A lost connection while COMMIT was in flight is
// ErrAmbiguousCommit unless the transaction is idempotent. A write refused
// in a transaction begun READ ONLY, a stale prepared statement that a
// replay would run again, and a transaction fn ended itself are permanent.
type txSite struct {
	op       opCtx
	facts    txFacts
	readOnly bool
	r        *Retrier
	policy   *policy
	adm      admitter
	// check and checkDB, with WithCommitCheck: the check of db's dialect
	// and the handle it asks (commitcheck.go).
	check   commitCheck
	checkDB *sql.DB
}

func (t *txSite) place() Place    { return PlaceTransaction }
func (t *txSite) funds() bool     { return true }
func (t *txSite) atConnect() bool { return t.op.connectFailed.Load() }
func (t *txSite) outer() bool     { return true }

// fnsError reports whether the last attempt's error is one WithRetryIf may
// judge: fn's, or BEGIN's, not COMMIT's. A COMMIT that failed with an
// error no rule knows may have been applied; a retryIf that took it for
// transient would replay the transaction.
func (t *txSite) fnsError() bool {
	inCommit, _, _, _ := t.facts.snapshot()
	return !inCommit
}

// paced: under admission, the contention error of an attempt that held a
// permit is paced by the permits: its replay waits for one, not for a
// delay. An attempt that ran without one (AdmitHotOnly's first attempt of
// a transaction not found hot) fought others that hold none either: its
// replay waits its strategy's delay, as without admission (a deadlock's
// victim replayed at once can take its first row back before the survivor
// takes it, and deadlock with it again), then for a permit.
func (t *txSite) paced(res classify.Result) bool {
	return t.adm.ctl != nil && res.Contention && t.adm.ranHeld
}

func (t *txSite) decide(ctx context.Context, p *policy, err error, res classify.Result) decision {
	var ended *txEndedError
	if errors.As(err, &ended) {
		return stopWith(ReasonPermanent, nil)
	}
	inCommit, stale, _, _ := t.facts.snapshot()
	idempotent := p.idempotent || IsIdempotent(ctx)
	// unknown: if this failure lost the connection, COMMIT may or may not
	// have been applied.
	unknown := inCommit && !t.readOnly && !idempotent && !res.Unsent && !classify.NotSent(err)
	switch {
	case ctx.Err() != nil && unknown:
		// The caller's context ended while COMMIT was in flight.
		return stopWith(ReasonAmbiguous, ErrAmbiguousCommit)
	case res.Class == classify.ConnLost && unknown:
		return stopWith(ReasonAmbiguous, ErrAmbiguousCommit)
	case res.ReadOnly && t.readOnly:
		// The application began the transaction READ ONLY: the write is its
		// mistake, not a failover.
		return stopWith(ReasonPermanent, nil)
	case res.StaleStatement && (stale || t.op.stale.Load()):
		return stopWith(ReasonPermanent, nil)
	}
	// A lost connection that is not unknown is definite: before COMMIT the
	// transaction went with it; a read-only one wrote nothing.
	if ok, why := mayRepeat(res, true); !ok {
		return stopWith(why, nil)
	}
	return decision{act: retry}
}
