package gormretry

import (
	"database/sql"
	"reflect"
	"sync"

	"gorm.io/gorm"
)

var (
	_ gorm.Tx             = (*watchedTx)(nil)
	_ gorm.GetDBConnector = (*watchedTx)(nil)
)

// watcher notes a Commit or Rollback of an attempt's transaction made by
// fn through GORM (RunInTx ends the *sql.Tx itself, unseen). fn may hand
// tx to other goroutines, hence the mutex.
type watcher struct {
	mu     sync.Mutex
	byFn   *bool // committed (true) or rolled back (false) by fn
	failed bool  // fn's COMMIT failed
}

func (w *watcher) saw(committed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if committed || w.byFn == nil {
		w.byFn = &committed
	}
}

// commitFailed notes that fn's COMMIT failed.
func (w *watcher) commitFailed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failed = true
}

// endedByFn returns what fn did: nil, or committed (true) or rolled back,
// and whether its COMMIT failed.
func (w *watcher) endedByFn() (*bool, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.byFn, w.failed
}

// sqlTx returns the *sql.Tx of the transaction GORM began, pool: pool
// itself, or the one inside GORM's prepared-statement transaction
// (PrepareStmt); nil for a transaction of another kind.
func sqlTx(pool gorm.ConnPool) *sql.Tx {
	switch p := pool.(type) {
	case *sql.Tx:
		return p
	case *gorm.PreparedStmtTX:
		if tx, ok := p.Tx.(*sql.Tx); ok {
			return tx
		}
	}
	return nil
}

// watch puts a watchedTx around the database/sql transaction that GORM
// began for tx: the *sql.Tx in tx.Statement.ConnPool, or the one inside
// GORM's prepared-statement transaction, which GORM itself looks for by
// type and so is left in place.
func watch(tx *gorm.DB, sqlDB *sql.DB) *watcher {
	w := &watcher{}
	switch p := tx.Statement.ConnPool.(type) {
	case *gorm.PreparedStmtTX:
		if !isNil(p.Tx) {
			p.Tx = &watchedTx{Tx: p.Tx, w: w, db: sqlDB}
		}
	case gorm.Tx:
		if !isNil(p) {
			tx.Statement.ConnPool = &watchedTx{Tx: p, w: w, db: sqlDB}
		}
	}
	return w
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// watchedTx is GORM's database/sql transaction with its Commit and
// Rollback noted. Everything else is the transaction's own: it is a
// gorm.Tx like the *sql.Tx it wraps, so GORM runs savepoints (nested
// Transaction calls) and Session(&gorm.Session{PrepareStmt: true}) on it
// as on a *sql.Tx, and its GetDBConn gives tx.DB() the *sql.DB that a
// *sql.Tx would.
type watchedTx struct {
	gorm.Tx
	w  *watcher
	db *sql.DB // the handle the transaction was begun on, or nil
}

func (t *watchedTx) Commit() error {
	t.w.saw(true)
	err := t.Tx.Commit()
	if err != nil {
		t.w.commitFailed()
	}
	return err
}

func (t *watchedTx) Rollback() error {
	t.w.saw(false)
	return t.Tx.Rollback()
}

// GetDBConn implements gorm.GetDBConnector, for tx.DB().
func (t *watchedTx) GetDBConn() (*sql.DB, error) {
	if c, ok := t.Tx.(gorm.GetDBConnector); ok {
		return c.GetDBConn()
	}
	return t.db, nil
}
