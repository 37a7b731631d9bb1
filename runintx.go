package retrysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/classify"
)

// TxBeginner begins a transaction: *sql.DB and *sql.Conn are TxBeginners.
type TxBeginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// A DBBeginner is a TxBeginner that begins its transactions on a *sql.DB
// through another API (an adapter's: sqlx's BeginTxx, GORM's Begin) and
// returns the *sql.Tx that API began. DB names that handle, or nil, and
// RunInTx treats the call as one on it: the handle's Retrier when it is a
// retrysql handle, its pool size as the bound of admission, and the commit
// check (WithCommitCheck), which asks the handle's other connections.
type DBBeginner interface {
	TxBeginner
	DB() *sql.DB
}

// A SiteBeginner is a TxBeginner that names where the transactions of the
// call come from, for admission (AdmitHotOnly keeps a record per site,
// and waits before BEGIN for a site whose first attempts were mostly hot):
// an adapter whose own function wraps the application's returns the
// application's from Site, so that the calls through it are not all one
// site. Site returns a function, or nil for RunInTx's fn.
type SiteBeginner interface {
	TxBeginner
	Site() any
}

// siteFor returns the site of a call on db with fn's site: the one a
// SiteBeginner names, if it names a function.
func siteFor(db TxBeginner, site uintptr) uintptr {
	if b, ok := db.(SiteBeginner); ok {
		if f := b.Site(); f != nil && reflect.ValueOf(f).Kind() == reflect.Func && !reflect.ValueOf(f).IsNil() {
			return siteOf(f)
		}
	}
	return site
}

// handleOf returns the *sql.DB that db names when it is a DBBeginner that
// names one, or db.
func handleOf(db TxBeginner) TxBeginner {
	if b, ok := db.(DBBeginner); ok {
		if h := b.DB(); h != nil {
			return h
		}
	}
	return db
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
// Idempotent(ctx)) or begun read-only. A write refused in a transaction
// begun READ ONLY is permanent. Any other error rolls the transaction back
// and is returned as it is, so errors.Is and errors.As reach it; a panic in
// fn rolls back and panics on.
//
// One RunInTx is one retry loop: on a retrysql handle, BEGIN, the
// connects and the statements of each attempt are single attempts, which
// RunInTx alone retries, under one attempt limit, one budget and one
// breaker. An error another loop already gave up on (a Do or RunInTx
// inside fn) is returned as it is, never replayed.
//
// fn may run several times. Everything it does outside the database must be
// idempotent, or wait until RunInTx has returned nil. It must return the
// errors of its statements wrapped with %w (or as they are): RunInTx
// decides what to do from them, and an error hidden behind %v is treated
// as permanent. fn must not call tx.Commit or tx.Rollback: RunInTx does.
// If fn commits, RunInTx never replays the transaction and returns an
// error matching ErrTxEndedByFn that says so. A statement error that fn
// swallows is not hidden: on a retrysql handle, if the database rolled the
// transaction back after it (a tx-aborted error, a lost connection), RunInTx
// does not commit but replays (or returns it); if COMMIT then fails (as
// PostgreSQL's does after any error), RunInTx returns that statement error.
//
// db may be opened with any driver. On a retrysql handle (a *sql.DB opened
// with a retrysql driver, NewConnector or Open, or a *sql.Conn of one),
// RunInTx uses the handle's Retrier: its policy, budget, breaker, hooks and
// counters, where replays are counted by class and code at
// PlaceTransaction. On any other handle it uses a Retrier shared by all such
// calls in the process, SharedRetrier, unless WithRetrier gives one. A
// DBBeginner (an adapter's) stands for the *sql.DB it names, in this and
// for the commit check. opts are the options of every attempt's
// transaction; options change the policy for this call (the options valid
// for one RunInTx call are listed in the package documentation).
//
// Under admission control (a retrysql handle's default, DefaultAdmission;
// WithAdmission on the handle, its Retrier or the call), an attempt the
// controller admits first waits for one of its permits, oldest
// transaction first, and holds it until its COMMIT or ROLLBACK has
// returned: every attempt, or with AdmitHotOnly (the default's) the
// attempts of a transaction that aborted and those whose first statement
// picks rows that recent attempts contended on (the wait is then at that
// statement, before it is sent, or before BEGIN if most first attempts of
// the same fn were hot). The contention error of an attempt that held a
// permit is replayed without a delay (the permits pace it) and without
// drawing from the budget. The wait ends with ctx: RunInTx then returns
// ctx's error, having run nothing more.
func RunInTx(ctx context.Context, db TxBeginner, opts *sql.TxOptions, fn func(ctx context.Context, tx *sql.Tx) error, options ...Option) error {
	if fn == nil {
		return errNilOp
	}
	_, err := runInTx(ctx, db, opts, func(ctx context.Context, tx *sql.Tx) (struct{}, error) {
		return struct{}{}, fn(ctx, tx)
	}, siteOf(fn), options)
	return err
}

// siteOf returns where a transaction comes from, for admission: the code
// of its fn: one per function literal, or per place a function returning
// closures was inlined.
func siteOf(fn any) uintptr { return reflect.ValueOf(fn).Pointer() }

// RunInTxValue is RunInTx for a transaction that computes a value: the
// value returned by the fn of the attempt that committed.
func RunInTxValue[T any](ctx context.Context, db TxBeginner, opts *sql.TxOptions, fn func(ctx context.Context, tx *sql.Tx) (T, error), options ...Option) (T, error) {
	var site uintptr
	if fn != nil {
		site = siteOf(fn)
	}
	return runInTx(ctx, db, opts, fn, site, options)
}

// runInTx is RunInTxValue, with the site of fn (siteOf).
func runInTx[T any](ctx context.Context, db TxBeginner, opts *sql.TxOptions, fn func(ctx context.Context, tx *sql.Tx) (T, error), site uintptr, options []Option) (T, error) {
	var zero T
	switch {
	case ctx == nil:
		return zero, errNilContext
	case db == nil || isNilPointer(db):
		return zero, errors.New("retrysql: RunInTx with a nil database handle")
	case fn == nil:
		return zero, errNilOp
	}
	h := handleOf(db)
	r, p, ctl, err := txRetrier(h, options)
	if err != nil {
		return zero, err
	}
	t := &txSite{readOnly: opts != nil && opts.ReadOnly, r: r, policy: p}
	t.op.Context, t.op.tx = ctx, &t.facts
	t.admitFor(ctx, r, h, ctl, siteFor(db, site))
	if p.commitCheck && !t.readOnly {
		if t.check, t.checkDB = checkFor(h); t.check == nil {
			return zero, noCheck(h)
		}
		if err := t.check.prepare(ctx, t.checkDB); err != nil {
			return zero, fmt.Errorf("retrysql: WithCommitCheck: %w", err)
		}
	}
	return run(&t.op, r, p, t, func(ctx context.Context) (T, error) {
		return admitted(ctx, t, func(ctx context.Context) (T, error) { return txAttempt(ctx, t, db, opts, fn) })
	})
}

// admitted runs one attempt of t's transaction, body, with ctx (t's
// opCtx, or a context derived from it that bounds the attempt), after
// forgetting the previous attempt's facts and under an admission permit
// when t has a controller (the wait for it is part of the attempt).
func admitted[T any](ctx context.Context, t *txSite, body func(context.Context) (T, error)) (v T, err error) {
	var zero T
	t.op.startAttempt()
	if t.adm.ctl != nil {
		if aerr := t.adm.start(ctx); aerr != nil {
			return zero, aerr
		}
		// Released once the transaction has ended, with what the attempt's
		// error says.
		actx := ctx
		defer func() {
			t.adm.end(err)
			t.adm.lookAtFleet(actx)
		}()
		ctx = t.adm.mark(ctx)
	}
	return body(ctx)
}

// txAttempt is one attempt of a RunInTx: BEGIN, fn, COMMIT.
func txAttempt[T any](ctx context.Context, t *txSite, db TxBeginner, opts *sql.TxOptions, fn func(context.Context, *sql.Tx) (T, error)) (v T, err error) {
	var zero T
	t.facts.begins(true)
	tx, err := db.BeginTx(ctx, opts)
	t.facts.begins(false)
	if err != nil {
		return zero, err
	}
	if t.adm.gate != nil && !t.facts.isAttached() {
		// Not a retrysql connection: no first statement to wait at, and
		// the gate is taken here.
		if err := t.adm.takeGate(ctx, t.readOnly, func(ctx context.Context, q string) error {
			_, err := tx.ExecContext(ctx, q)
			return err
		}); err != nil {
			return zero, t.rollback(ctx, tx, err)
		}
	}
	var proof commitProof
	if t.check != nil {
		// First, before fn takes any lock: the round trip does not make
		// contended transactions hold their locks longer.
		// The first statement, but not fn's: admission at the first
		// statement takes the fleet gate before it (in PostgreSQL it
		// takes the snapshot) but judges the transaction by fn's first
		// statement, without waiting there (firstStatement).
		if proof, err = t.check.prove(context.WithValue(ctx, ownStatement{}, true), tx); err != nil {
			return zero, t.rollback(ctx, tx, err)
		}
	}
	panicked := true
	defer func() {
		if panicked {
			tx.Rollback() // and the panic goes on
		}
	}()
	v, err = fn(ctx, tx)
	panicked = false
	if err != nil {
		return zero, t.rollback(ctx, tx, err)
	}
	if err := t.facts.swallowed(); err != nil {
		// fn swallowed a statement error after which the database rolled
		// the transaction back: COMMIT would commit nothing.
		return zero, t.rollback(ctx, tx, err)
	}
	if t.check != nil {
		err = t.checkedCommit(tx, proof)
	} else {
		err = t.facts.end(true, tx.Commit)
	}
	if err != nil {
		return zero, t.commitFailed(ctx, err)
	}
	return v, nil
}

// rollback rolls the attempt's transaction back after fn (or a statement
// fn swallowed) failed with err, and returns the error to decide from: err,
// or a txEndedError if fn had committed the transaction itself, or had
// ended it on a handle that cannot tell how (then a replay could run its
// work twice).
func (t *txSite) rollback(ctx context.Context, tx *sql.Tx, err error) error {
	rbErr := t.facts.end(false, tx.Rollback)
	var ended *txEndedError
	if errors.As(err, &ended) {
		return err // an adapter's fn said so already (TxAttempt.EndedByFn)
	}
	_, _, byFn, _ := t.facts.snapshot()
	switch {
	case byFn == "committed" || byFn == "commit failed":
		// Its outcome is fn's: committed, or not known to be (a COMMIT
		// that lost its connection may have been applied).
		return &txEndedError{how: byFn, err: err}
	case byFn == "" && errors.Is(rbErr, sql.ErrTxDone) && ctx.Err() == nil:
		return &txEndedError{err: err}
	}
	return err
}

// commitFailed returns the error to decide from when COMMIT failed with
// err: a txEndedError if fn had ended the transaction (database/sql then
// refuses the COMMIT without sending it), the statement error fn swallowed
// if the server answered COMMIT with a rollback (PostgreSQL reports a
// transaction that an earlier error aborted as rolled back at COMMIT), or
// err. Only an answer of the server's is replaced: a COMMIT that ended
// without one (a timeout, a network error no rule knows) has an unknown
// outcome, and the swallowed error, were it a deadlock, would replay it.
func (t *txSite) commitFailed(ctx context.Context, err error) error {
	_, _, byFn, stmtErr := t.facts.snapshot()
	if errors.Is(err, sql.ErrTxDone) && ctx.Err() == nil {
		return &txEndedError{how: byFn}
	}
	if res := t.policy.classify(err); stmtErr != nil && res.Class == classify.Permanent &&
		(res.Code != "" || errors.Is(err, pgx.ErrTxCommitRollback)) {
		return stmtErr
	}
	return err
}

// SharedRetrier returns the Retrier that serves the calls given none: RunInTx
// on a handle that is not retrysql's, Transact, and the adapters built on
// them (pgxretry, whose statement helpers too, gormretry, sqlxretry) on
// such handles, unless WithRetrier gives one. It has the default settings;
// its budget, breaker and Stats are those of all these calls together.
func SharedRetrier() *Retrier { return defaultTxRetrier() }

// defaultTxRetrier serves RunInTx on handles that are not retrysql's.
var defaultTxRetrier = sync.OnceValue(func() *Retrier {
	r, err := NewRetrier()
	if err != nil {
		panic(err) // the defaults are checked by the tests
	}
	return r
})

// txRetrier finds the Retrier for db (WithRetrier's, the handle's, or the
// shared default), the policy changed by options and the admission
// controller (the Retrier's, or the call's).
func txRetrier(db TxBeginner, options []Option) (*Retrier, *policy, *admission.Controller, error) {
	r := chosenRetrier(options)
	if r == nil {
		r = handleRetrier(db)
	}
	if r == nil {
		r = defaultTxRetrier()
	}
	p, cfg, err := callPolicy(r, scopeTx, options)
	if err != nil {
		return nil, nil, nil, err
	}
	ctl := r.admit
	if cfg != nil && cfg.admitSet {
		ctl = cfg.admit
	}
	return r, p, ctl, nil
}

// handleRetrier returns the Retrier of a retrysql handle, or nil.
func handleRetrier(db TxBeginner) *Retrier {
	switch h := db.(type) {
	case *sql.DB:
		r, _ := RetrierOf(h)
		return r
	case *sql.Conn:
		var r *Retrier
		_ = h.Raw(func(dc any) error {
			if w, ok := dc.(interface{ retrier() *Retrier }); ok {
				r = w.retrier()
			}
			return nil
		})
		return r
	}
	return nil
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
