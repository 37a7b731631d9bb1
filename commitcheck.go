package retrysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/retrysql/retrysql/classify"
)

// The commit check (WithCommitCheck) turns a COMMIT whose answer was lost
// into an answer. First thing after BEGIN, before fn takes any lock, the
// attempt's transaction leaves proof of itself (one more round trip); when
// the connection is lost during COMMIT, RunInTx asks other connections of
// the same *sql.DB, less and less often (pollFirst doubling to pollMax) for
// at most resolveWithin (and never past the context), until the evidence
// settles it:
//
//   - PostgreSQL (commitcheck_pg.go): the transaction's id, its backend's
//     pid and the server's start time; then txid_status on a primary.
//   - MySQL and MariaDB (commitcheck_mysql.go): a marker row with a random
//     token, written in the transaction, and the server that wrote it;
//     then the marker, read without waiting for the lock of a transaction
//     still open.
//
// Committed: RunInTx returns the attempt's value. Not committed: the
// transaction is replayed, like any other that cannot have committed.
// Anything the evidence does not settle (the check's own connection lost
// until the end, the context ending, a transaction id another server may
// have given to another transaction): ErrAmbiguousCommit, as without the
// check. Nothing is reported committed that the server did not commit.

// commitCheck is the check of one dialect.
type commitCheck interface {
	// prepare makes sure the check can run on db (the marker table);
	// once per *sql.DB.
	prepare(ctx context.Context, db *sql.DB) error
	// prove runs in the transaction, first (before fn).
	prove(ctx context.Context, tx *sql.Tx) (commitProof, error)
	// look asks once, on conn, what became of the transaction of proof.
	look(ctx context.Context, conn *sql.Conn, proof commitProof) verdict
	// committed runs after a COMMIT that succeeded (cleaning up).
	committed(ctx context.Context, db *sql.DB)
}

// commitProof is what a transaction leaves before COMMIT.
type commitProof struct {
	id       int64     // PostgreSQL: the transaction id (with its epoch)
	session  uint64    // PostgreSQL: the backend's pid; MySQL: the server's hash
	started  int64     // PostgreSQL: when the server started (µs since 1970)
	timeline int64     // PostgreSQL: the server's timeline
	system   int64     // PostgreSQL: the server's system identifier
	token    []byte    // MySQL: the marker's token
	at       time.Time // MySQL: when the marker was written
}

// verdict is what one look found.
type verdict uint8

const (
	lookAgain    verdict = iota // not settled yet: the old session may still be committing, no server answered
	isCommitted                 // the transaction committed
	notCommitted                // it did not, and no longer can
	unknowable                  // the evidence cannot settle it
)

// checker is the commit check of one RunInTx (or Transact): its
// dialect's, and what it found of the lost COMMITs of the attempts, for
// the completion hooks (settled notes them, run reads them). The
// operation's goroutine alone uses it.
type checker struct {
	commitCheck
	lastFound bool // a lost COMMIT was found committed: by the last attempt, which succeeded
	foundNot  int  // lost COMMITs found not committed (their attempts replayed)
}

// checkFor returns a commit check for db's driver, a *checker, or nil when
// there is none (another driver, or a *sql.Conn: the check needs other
// connections of the same handle).
func checkFor(db TxBeginner) (commitCheck, *sql.DB) {
	switch d, h := dialectOf(db); d {
	case postgresDialect:
		return &checker{commitCheck: pgCheck{}}, h
	case mysqlDialect:
		return &checker{commitCheck: mysqlCheck{}}, h
	}
	return nil, nil
}

// resolutions returns what the commit check found of t's lost COMMITs:
// whether the last one was found committed, and how many were found not
// committed.
func (t *txSite) resolutions() (committed bool, notCommitted int) {
	if c, ok := t.check.(*checker); ok {
		return c.lastFound, c.foundNot
	}
	return false, 0
}

// noCheck is the error of WithCommitCheck on a db without a check.
func noCheck(db TxBeginner) error {
	if h, ok := db.(*sql.DB); ok {
		return fmt.Errorf("retrysql: WithCommitCheck: no commit check for the driver %T (there is one for pgx and go-sql-driver/mysql)", innerDriver(h))
	}
	return fmt.Errorf("retrysql: WithCommitCheck: needs a *sql.DB, to ask its other connections, not a %T", db)
}

// errNotCommitted says a lost COMMIT was found not to have committed: it
// has pgx's SafeToRetry behaviour, which classify reads as a connection
// lost before anything was sent, so the transaction is replayed.
type errNotCommitted struct{ err error }

func (e *errNotCommitted) Error() string {
	return "retrysql: the transaction did not commit (checked after COMMIT's answer was lost): " + e.err.Error()
}
func (e *errNotCommitted) Unwrap() error     { return e.err }
func (e *errNotCommitted) SafeToRetry() bool { return true }

// checkedCommit commits tx, an attempt of RunInTx with the commit check
// whose proof is proof: it returns nil when COMMIT succeeded or was found
// committed, an errNotCommitted when it was found not committed, and
// COMMIT's error otherwise.
func (t *txSite) checkedCommit(tx *sql.Tx, proof commitProof) error {
	return t.commitChecked(tx.Commit, proof, func() (*sql.DB, func()) { return t.checkDB, func() {} })
}

// commitChecked runs commit, an attempt's COMMIT under the commit check,
// and settles a lost answer by asking on the *sql.DB that ask returns
// (with what closes it when done): RunInTx asks its own handle,
// TransactOn one it opens for the question.
func (t *txSite) commitChecked(commit func() error, proof commitProof, ask func() (*sql.DB, func())) error {
	err := t.facts.end(true, commit)
	if err == nil {
		if t.checkDB != nil {
			t.check.committed(ownStatements(t.op.Context), t.checkDB)
		}
		return nil
	}
	if errors.Is(err, sql.ErrTxDone) {
		return err
	}
	res := t.policy.classify(err)
	if res.Class != classify.ConnLost || res.Unsent {
		return err // a definite answer
	}
	db, done := ask()
	defer done()
	switch resolve(ownStatements(t.op.Context), db, t.check, proof) {
	case isCommitted:
		t.settled(true, res)
		return nil
	case notCommitted:
		t.settled(false, res)
		return &errNotCommitted{err: err}
	}
	return err
}

// settled counts (Stats.Resolved), notes for the completion hooks (when
// t.check is a *checker) and logs what the commit check found of a COMMIT
// whose answer was lost with an error classified as res: committed, or
// not. Every commit check calls it, RunInTx's and Transact's.
func (t *txSite) settled(committed bool, res classify.Result) {
	c, _ := t.check.(*checker)
	if committed {
		t.r.stats.resolved[1].Add(1)
		if c != nil {
			c.lastFound = true // the attempt ends the operation: it succeeded
		}
	} else {
		t.r.stats.resolved[0].Add(1)
		if c != nil {
			c.foundNot++
		}
	}
	t.policy.obs.resolved(&t.op, committed, res)
}

// A resolution looks again after pollFirst, doubling the wait up to
// pollMax (a server that is restarting is not pressed for an answer); it
// gives up after resolveWithin when the context has no earlier deadline.
const (
	pollFirst     = 20 * time.Millisecond
	pollMax       = 500 * time.Millisecond
	resolveWithin = 15 * time.Second
)

// resolve looks, on fresh connections of db, until the transaction of
// proof is settled, ctx ends or resolveWithin has passed (unknowable).
func resolve(ctx context.Context, db *sql.DB, check commitCheck, proof commitProof) verdict {
	ctx, cancel := context.WithTimeout(ctx, resolveWithin)
	defer cancel()
	for wait := pollFirst; ; wait = min(2*wait, pollMax) {
		if v := lookOnce(ctx, db, check, proof); v != lookAgain {
			return v
		}
		if sleep(ctx, wait) != nil {
			return unknowable
		}
	}
}

func lookOnce(ctx context.Context, db *sql.DB, check commitCheck, proof commitProof) verdict {
	conn, err := db.Conn(ctx)
	if err != nil {
		return lookAgain
	}
	defer conn.Close()
	return check.look(ctx, conn, proof)
}
