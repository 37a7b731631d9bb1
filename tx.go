package retrysql

import (
	"context"
	"database/sql/driver"
	"sync/atomic"

	"github.com/retrysql/retrysql/classify"
)

// tx wraps a driver's transaction: it tells its connection when the
// transaction ends and, under RunInTx, reports to it (txFacts). Its
// statements run on the connection, which does not retry them.
type tx struct {
	inner    driver.Tx
	c        *conn
	facts    *txFacts // RunInTx's, or nil
	readOnly bool     // begun READ ONLY
	started  bool     // a statement has been sent
	judged   bool     // fn's first statement has been sent
}

// beforeStatement runs RunInTx's hook (admission at the first statement,
// admit_hot.go), if it has one, before the transaction's first statement
// and, when that was retrysql's own (the commit check's proof), before
// fn's first.
func (t *tx) beforeStatement(ctx context.Context, query string, args []driver.NamedValue) error {
	if t.judged {
		return nil
	}
	sent := t.started
	t.started = true
	if t.facts == nil || t.facts.hook == nil {
		t.judged = true // no hook: nothing to look up for later statements
		return nil
	}
	t.judged = ctx.Value(ownStatement{}) == nil
	var holding *atomic.Int32 // the handle's count
	if t.c != nil {
		holding = &t.c.h.holding
	}
	return t.facts.hook.firstStatement(ctx, query, args, t.gate, sent, holding)
}

// gate runs one of RunInTx's own statements (the fleet gate's) on the
// transaction's connection.
func (t *tx) gate(ctx context.Context, query string) error {
	err := t.c.execInner(ctx, query)
	return t.failed(err, "", false)
}

var _ driver.Tx = (*tx)(nil)

// Commit implements driver.Tx. Under RunInTx only fn calls it (RunInTx
// commits through database/sql's Tx): RunInTx then never replays the
// transaction, and says whether fn's COMMIT succeeded.
func (t *tx) Commit() error {
	err := t.failed(t.inner.Commit(), "", false)
	how := "committed"
	if err != nil {
		how = "commit failed"
	}
	t.end(how)
	return err
}

// Rollback implements driver.Tx. A ROLLBACK that fails leaves the
// transaction's state unknown: the connection is marked dead, so that
// database/sql drops it when it comes back to the pool (Validator) and,
// whatever the driver's shape, any further use of it answers
// driver.ErrBadConn before anything is sent (conn.usable). Otherwise the
// next BEGIN or statement on it could run inside a transaction still open
// on the server (a Galera node without quorum refuses ROLLBACK with 1047)
// and commit what was left of this one, or never commit. The error is the
// driver's, as it is: a driver whose connection was already lost answers
// what database/sql expects of it.
func (t *tx) Rollback() error {
	t.end("rolled back")
	err := t.inner.Rollback()
	if err != nil {
		t.c.dead = true
	}
	return err
}

func (t *tx) end(how string) {
	if t.facts != nil {
		t.facts.ended(how)
	}
	if t.c.tx == t {
		t.c.tx = nil
	}
}

// failed notes a statement error of the transaction: a lost connection
// leaves the connection dead, and under RunInTx the error is reported.
// prepared says the statement is one the application prepared. It returns
// err.
func (t *tx) failed(err error, query string, prepared bool) error {
	if err == nil || err == driver.ErrSkip {
		return err
	}
	res := t.c.h.r.policy.classify(err)
	if res.Class == classify.ConnLost || res.ReadOnly && !t.readOnly {
		// Lost, or on a node that refuses writes although the transaction
		// was not begun READ ONLY (a standby, a demoted writer): database/sql
		// drops the connection when the transaction ends, and a replay
		// takes another.
		t.c.dead = true
	}
	if t.facts != nil && query != "" {
		stale := res.StaleStatement && (prepared || t.c.prepared[query] > 0)
		t.facts.statementFailed(err, res, stale)
	}
	return err
}
