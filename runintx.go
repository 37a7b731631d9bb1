package retrysql

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/classify"
)

// TxBeginner begins a transaction: *sql.DB and *sql.Conn are TxBeginners.
type TxBeginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// RunInTx runs fn in a transaction and commits it, replaying the whole
// transaction when the database rolled it back or it could not complete:
//
//	err := retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
//		if _, err := tx.ExecContext(ctx, debit, amount, from); err != nil {
//			return fmt.Errorf("debit: %w", err)
//		}
//		_, err := tx.ExecContext(ctx, credit, amount, to)
//		return err
//	})
//
// When fn, BEGIN or COMMIT fails with a tx-aborted error (deadlock,
// serialization failure, a conflict reported by COMMIT itself, which is a
// definite rollback), a transient one (lock not available, lock wait
// timeout), or a lost connection before COMMIT was sent, RunInTx rolls the
// transaction back first (no transaction holds locks while waiting), waits
// as the error's strategy says, begins a new transaction and runs fn again.
// A connection lost while COMMIT was in flight leaves the outcome unknown:
// RunInTx returns an error matching ErrAmbiguousCommit and does not replay,
// unless the transaction was declared idempotent (WithIdempotent,
// Idempotent(ctx)) or begun read-only. Any other error rolls the
// transaction back and is returned as it is, so errors.Is and errors.As
// reach it; a panic in fn rolls back and panics on.
//
// fn may run several times. Everything it does outside the database must be
// idempotent, or wait until RunInTx has returned nil. It must return the
// errors of its statements wrapped with %w (or as they are): RunInTx
// decides what to do from them, and an error hidden behind %v is treated
// as permanent. A statement error that fn swallows and a transaction that
// the database rolled back anyway are not reported as committed: on a
// retrysql handle RunInTx sees the failed statement and replays (or
// returns its error); on any handle pgx reports pgx.ErrTxCommitRollback at
// COMMIT, which is returned.
//
// db may be opened with any driver. On a retrysql handle (a *sql.DB opened
// with a retrysql driver, NewConnector or Open, or a *sql.Conn of one),
// RunInTx uses the handle's Retrier: its policy, budget, breaker, hooks and
// counters, where replays are counted by class and code at
// PlaceTransaction. On any other handle it uses a Retrier shared by all such
// calls in the process, with the default settings, unless WithRetrier gives
// one. opts are the options of every attempt's transaction. options change
// the policy for this call: WithMaxAttempts, WithMaxElapsed, WithStrategy,
// WithCodeStrategy, WithClassifier, WithIdempotent, WithRetrier,
// WithAdmission.
//
// Under admission control (WithAdmission, on the handle, its Retrier or
// the call), every attempt first waits for a permit of the controller,
// oldest transaction first, and holds it until its COMMIT or ROLLBACK has
// returned; contention errors are then replayed without a delay (the
// permits pace them) and without drawing from the budget. The wait ends
// with ctx: RunInTx then returns ctx's error, having run nothing more.
func RunInTx(ctx context.Context, db TxBeginner, opts *sql.TxOptions, fn func(ctx context.Context, tx *sql.Tx) error, options ...Option) error {
	if fn == nil {
		return errNilOp
	}
	_, err := RunInTxValue(ctx, db, opts, func(ctx context.Context, tx *sql.Tx) (struct{}, error) {
		return struct{}{}, fn(ctx, tx)
	}, options...)
	return err
}

// RunInTxValue is RunInTx for a transaction that computes a value: the
// value returned by the fn of the attempt that committed.
func RunInTxValue[T any](ctx context.Context, db TxBeginner, opts *sql.TxOptions, fn func(ctx context.Context, tx *sql.Tx) (T, error), options ...Option) (T, error) {
	var zero T
	switch {
	case ctx == nil:
		return zero, errNilContext
	case db == nil || isNilPointer(db):
		return zero, errors.New("retrysql: RunInTx with a nil database handle")
	case fn == nil:
		return zero, errNilOp
	}
	r, p, ctl, own, err := txRetrier(db, options)
	if err != nil {
		return zero, err
	}
	c := call{place: PlaceTransaction, readOnly: opts != nil && opts.ReadOnly, noBreaker: own}
	var adm admitter
	if ctl != nil && ctx.Value(permitKey{ctl}) == nil {
		adm = admitter{ctl: ctl, escalateAfter: ctl.EscalateAfter(), p: p}
		c.admitted = true
		r.boundByPool(db, ctl)
	}
	op := func(ctx context.Context) (v T, err error) {
		c.inCommit = false
		if adm.ctl != nil {
			permit, aerr := adm.admit(ctx)
			if aerr != nil {
				return zero, aerr
			}
			// Released after the rollback below (deferred calls run last
			// in, first out), with what the attempt's error says.
			defer func() { adm.release(permit, err) }()
			ctx = context.WithValue(ctx, permitKey{adm.ctl}, true)
		}
		st := &txState{}
		tx, err := db.BeginTx(context.WithValue(ctx, txStateKey{}, st), opts)
		if err != nil {
			return zero, err
		}
		done := false
		defer func() {
			if !done {
				// fn failed or panicked: roll back before anything else
				// (and before waiting to replay).
				tx.Rollback()
			}
		}()
		v, err = fn(ctx, tx)
		if err != nil {
			return zero, err
		}
		if aborted := st.aborted(); aborted != nil {
			// fn swallowed a statement error after which the database
			// rolled the transaction back: COMMIT would commit nothing.
			return zero, aborted
		}
		c.inCommit = true
		done = true
		if err := tx.Commit(); err != nil {
			return zero, err
		}
		return v, nil
	}
	return run(ctx, r, p, &c, op)
}

// admitter admits the attempts of one RunInTx.
type admitter struct {
	ctl           *admission.Controller
	escalateAfter int
	p             *policy
	ticket        int64 // when the first attempt asked (UnixNano), 0 before
	aborts        int   // contention errors so far
}

// admit waits for the permit of the next attempt: exclusive once the
// transaction has been aborted escalateAfter times.
func (a *admitter) admit(ctx context.Context) (admission.Permit, error) {
	p, err := a.ctl.Admit(ctx, a.ticket, a.escalateAfter >= 0 && a.aborts >= a.escalateAfter)
	a.ticket = p.Ticket()
	return p, err
}

// release ends an attempt that returned err.
func (a *admitter) release(p admission.Permit, err error) {
	aborted := err != nil && contention(a.p.classify(err))
	if aborted {
		a.aborts++
	}
	p.Release(aborted)
}

// permitKey marks a context whose transaction holds a permit of ctl.
type permitKey struct{ ctl *admission.Controller }

// boundByPool bounds ctl's limit by db's pool size, checked at most once a
// second per Retrier.
func (r *Retrier) boundByPool(db TxBeginner, ctl *admission.Controller) {
	h, ok := db.(*sql.DB)
	if !ok {
		return
	}
	now := time.Now().UnixNano()
	last := r.poolChecked.Load()
	if now-last < int64(time.Second) || !r.poolChecked.CompareAndSwap(last, now) {
		return
	}
	ctl.SetMaxLimit(h.Stats().MaxOpenConnections)
}

// defaultTxRetrier serves RunInTx on handles that are not retrysql's.
var defaultTxRetrier = sync.OnceValue(func() *Retrier {
	r, err := NewRetrier()
	if err != nil {
		panic(err) // the defaults are checked by the tests
	}
	return r
})

// txRetrier finds the Retrier for db, the policy changed by options and
// the admission controller (the Retrier's, or the call's); own reports
// that db is a retrysql handle whose statements consult that Retrier's
// breaker themselves.
func txRetrier(db TxBeginner, options []Option) (r *Retrier, p *policy, ctl *admission.Controller, own bool, err error) {
	cfg := config{call: true, tx: true}
	switch h := db.(type) {
	case *sql.DB:
		r, _ = RetrierOf(h)
	case *sql.Conn:
		_ = h.Raw(func(dc any) error {
			if w, ok := dc.(interface{ retrier() *Retrier }); ok {
				r = w.retrier()
			}
			return nil
		})
	}
	handle := r
	// Options apply to a copy of the policy, after WithRetrier (if given)
	// has chosen whose.
	for _, o := range options {
		if o == nil {
			return nil, nil, nil, false, errors.New("retrysql: nil option")
		}
		var probe config
		probe.call, probe.tx = true, true
		if err := o.apply(&probe); err != nil {
			return nil, nil, nil, false, err
		}
		if probe.retrier != nil {
			r = probe.retrier
		}
	}
	if r == nil {
		r = defaultTxRetrier()
	}
	cfg.policy = r.policy
	if err := cfg.apply(options); err != nil {
		return nil, nil, nil, false, err
	}
	ctl = r.admit
	if cfg.admitSet {
		ctl = cfg.admit
	}
	return r, &cfg.policy, ctl, handle != nil && handle == r, nil
}

// txState is what a retrysql connection tells RunInTx about one attempt's
// transaction: the first statement error after which the database rolled
// the transaction back. RunInTx hands it to BeginTx through the context.
type txState struct {
	abort atomic.Pointer[error]
}

type txStateKey struct{}

func (s *txState) aborted() error {
	if e := s.abort.Load(); e != nil {
		return *e
	}
	return nil
}

// noteStatementError records err if it ended the transaction: a tx-aborted
// error, or a lost connection.
func (s *txState) noteStatementError(err error, res classify.Result) {
	if res.Class == classify.TxAborted || res.Class == classify.ConnLost {
		s.abort.CompareAndSwap(nil, &err)
	}
}

func isNilPointer(db TxBeginner) bool {
	switch h := db.(type) {
	case *sql.DB:
		return h == nil
	case *sql.Conn:
		return h == nil
	}
	return false
}
