package retrysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/retrysql/retrysql/classify"
)

// opCtx is the context that an outer loop (Do, DoValue, RunInTx) hands to
// its attempts, and the one channel between that loop and the retrysql
// handles its attempts reach. This file is the whole protocol:
//
//   - A connect or a statement (BEGIN included) of a retrysql handle that
//     finds an opCtx in its context makes a single attempt and no loop of
//     its own: the outer loop alone retries, so attempts never multiply.
//     A lost connection is then not handed to database/sql as
//     driver.ErrBadConn (which database/sql would retry on other
//     connections): the error returned does not match it, and the
//     connection reports itself invalid so that database/sql drops it.
//   - A connect that fails there says so (connectFailed): the outer loop
//     then waits as the connect strategy says, and its breaker counts the
//     failure. So does a statement that failed on a stale prepared
//     statement it would run again (stale): the outer loop returns it.
//   - Under RunInTx (tx set), the connection that runs the transaction
//     reports the first statement error of the attempt and whether it came
//     from a stale prepared statement, and the wrapped transaction reports
//     a Commit or Rollback made by fn rather than by RunInTx.
//
// An opCtx lives for one call of Do or RunInTx; it is reset before each
// attempt. Value finds it in any context derived from it.
type opCtx struct {
	context.Context
	connectFailed atomic.Bool
	stale         atomic.Bool
	tx            *txFacts // nil but under RunInTx
}

type opKey struct{}

// Value implements context.Context.
func (o *opCtx) Value(key any) any {
	if key == (opKey{}) {
		return o
	}
	return o.Context.Value(key)
}

// opOf returns the opCtx ctx derives from, or nil.
func opOf(ctx context.Context) *opCtx {
	o, _ := ctx.Value(opKey{}).(*opCtx)
	return o
}

// ownStatements returns ctx for the statements an operation runs on its
// own account, beside its attempts (the commit check's looks and its
// cleanup): under it, a retrysql handle makes single attempts, because the
// operation paces those statements itself (the commit check looks again,
// less and less often) and one operation is one loop. Statements outside
// a transaction report nothing to the operation.
func ownStatements(ctx context.Context) context.Context {
	if opOf(ctx) != nil {
		return ctx
	}
	return &opCtx{Context: ctx}
}

// startAttempt forgets what the previous attempt reported.
func (o *opCtx) startAttempt() {
	o.connectFailed.Store(false)
	o.stale.Store(false)
	if o.tx != nil {
		o.tx.reset()
	}
}

// txFacts is what a retrysql connection reports about one attempt's
// transaction. Its methods are called by the connection under
// database/sql's lock of that connection, possibly from another goroutine
// than RunInTx's (database/sql rolls back from its own when the context
// ends), hence the mutex.
type txFacts struct {
	mu       sync.Mutex
	stmtErr  error           // the first statement error of the transaction
	stmtRes  classify.Result // how it was classified
	stale    bool            // a stale prepared statement failed: a replay would run it again
	ending   bool            // RunInTx is committing or rolling back
	inCommit bool            // RunInTx has sent COMMIT
	byFn     string          // "committed", "commit failed" or "rolled back": fn ended the transaction
	// hook, set by RunInTx for admission at the first statement
	// (admit_hot.go), runs before the first statement of each attempt's
	// transaction on a retrysql connection; attached says the attempt's
	// transaction is on one.
	hook     firstStatementHook
	attached bool
	// beginning: RunInTx's own BEGIN is under way. Only the transaction it
	// begins takes the attempt's facts (takeBegin), not another that fn
	// begins beside it with the context it was given (an outbox write,
	// say), whose COMMIT is not fn ending RunInTx's transaction. A flag of
	// the facts rather than a mark of the context, which an adapter may
	// hand fn (GORM keeps its BEGIN's in tx.Statement).
	beginning bool
}

// begins says RunInTx's own BEGIN is under way (on), or over.
func (f *txFacts) begins(on bool) {
	f.mu.Lock()
	f.beginning = on
	f.mu.Unlock()
}

// takeBegin reports whether a transaction just begun is RunInTx's own,
// the first one begun while begins says so.
func (f *txFacts) takeBegin() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	own := f.beginning
	f.beginning = false
	return own
}

// firstStatementHook is RunInTx's, for admission at the first statement.
type firstStatementHook interface {
	firstStatement(ctx context.Context, query string, args []driver.NamedValue, gate func(context.Context, string) error, sent bool, holding *atomic.Int32) error
}

func (f *txFacts) reset() {
	f.mu.Lock()
	f.stmtErr, f.stmtRes, f.stale, f.ending, f.inCommit, f.byFn, f.attached = nil, classify.Result{}, false, false, false, "", false
	f.mu.Unlock()
}

// attach records that the attempt's transaction runs on a retrysql
// connection.
func (f *txFacts) attach() {
	f.mu.Lock()
	f.attached = true
	f.mu.Unlock()
}

// isAttached reports whether attach was called since the last reset.
func (f *txFacts) isAttached() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attached
}

// statementFailed records a statement error of the transaction; stale says
// that it came from a prepared statement made stale by a schema change,
// which a replay would run again.
func (f *txFacts) statementFailed(err error, res classify.Result, stale bool) {
	f.mu.Lock()
	if f.stmtErr == nil {
		f.stmtErr, f.stmtRes = err, res
	}
	f.stale = f.stale || stale
	f.mu.Unlock()
}

// ended records the end of the transaction by the wrapped driver
// transaction: by fn unless RunInTx is ending it.
func (f *txFacts) ended(how string) {
	f.mu.Lock()
	if !f.ending && f.byFn == "" {
		f.byFn = how
	}
	f.mu.Unlock()
}

// end runs RunInTx's own Commit or Rollback; commit marks COMMIT as in
// flight from then on.
func (f *txFacts) end(commit bool, do func() error) error {
	f.mu.Lock()
	f.ending, f.inCommit = true, f.inCommit || commit
	f.mu.Unlock()
	err := do()
	f.mu.Lock()
	f.ending = false
	f.mu.Unlock()
	return err
}

// swallowed returns the statement error fn swallowed after which the
// database had rolled the transaction back (a tx-aborted error or a lost
// connection): committing would commit nothing, or fail.
func (f *txFacts) swallowed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stmtRes.Class == classify.TxAborted || f.stmtRes.Class == classify.ConnLost {
		return f.stmtErr
	}
	return nil
}

// snapshot returns the facts the transaction site decides from.
func (f *txFacts) snapshot() (inCommit, stale bool, byFn string, stmtErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inCommit, f.stale, f.byFn, f.stmtErr
}

// lostConnection stands for an error matching driver.ErrBadConn that must
// not reach database/sql as such (database/sql would retry it on its own):
// it has the text of the error and pgx's SafeToRetry behaviour, which
// classify reads as a connection lost before anything was sent, but does
// not match driver.ErrBadConn.
type lostConnection struct{ err error }

func (e *lostConnection) Error() string     { return e.err.Error() }
func (e *lostConnection) SafeToRetry() bool { return true }

// notBadConn returns err, or a lostConnection if err matches
// driver.ErrBadConn.
func notBadConn(err error) error {
	if errors.Is(err, driver.ErrBadConn) {
		return &lostConnection{err: err}
	}
	return err
}

// handedOff is the error that hands a statement back to database/sql,
// which then runs it on another connection: it matches driver.ErrBadConn
// and wraps the error that lost the connection.
type handedOff struct{ err error }

func (e *handedOff) Error() string   { return "driver: bad connection: " + e.err.Error() }
func (e *handedOff) Unwrap() []error { return []error{driver.ErrBadConn, e.err} }

// badConn returns err if it matches driver.ErrBadConn (as it is, since
// code may compare it with ==), or a handedOff that does.
func badConn(err error) error {
	if errors.Is(err, driver.ErrBadConn) {
		return err
	}
	return &handedOff{err: err}
}

// retriedElsewhere returns the *Error of a retry loop that already gave up
// on err: another loop must not retry it again (attempts would multiply).
func retriedElsewhere(err error) (*Error, bool) {
	e := findError(err)
	return e, e != nil
}

// findError returns the first *Error in err's chain (depth first, as
// errors.As looks), or nil. Unlike errors.As with a local target, it
// allocates nothing: it runs after every failed attempt.
func findError(err error) *Error {
	for err != nil {
		switch x := err.(type) {
		case *Error:
			return x
		case interface{ Unwrap() error }:
			err = x.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				if found := findError(e); found != nil {
					return found
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}
