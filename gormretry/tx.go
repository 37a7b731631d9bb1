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
// fn rather than by RunInTx. fn may hand tx to other goroutines, hence
// the mutex.
type watcher struct {
	mu   sync.Mutex
	ours bool  // RunInTx is ending the transaction
	byFn *bool // committed (true) or rolled back (false) by fn
}

func (w *watcher) saw(committed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ours {
		return
	}
	if committed || w.byFn == nil {
		w.byFn = &committed
	}
}

// endedByFn returns what fn did: nil, or committed (true) or rolled back.
func (w *watcher) endedByFn() *bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.byFn
}

// end runs RunInTx's own COMMIT or ROLLBACK of tx through GORM (which
// translates its error as it always does).
func (w *watcher) end(tx *gorm.DB, commit bool) error {
	w.mu.Lock()
	w.ours = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.ours = false
		w.mu.Unlock()
	}()
	if commit {
		return tx.Commit().Error
	}
	return tx.Rollback().Error
}

func (w *watcher) commit(tx *gorm.DB) error { return w.end(tx, true) }
func (w *watcher) rollback(tx *gorm.DB)     { _ = w.end(tx, false) }

// watch puts a watchedTx around the database/sql transaction that GORM
// began for tx: the *sql.Tx (or other gorm.Tx) in tx.Statement.ConnPool,
// or the one inside GORM's prepared-statement transaction (PrepareStmt),
// which GORM itself looks for by type and so is left in place. A
// transaction of another kind is not watched: fn's own Commit then goes
// unnoticed, and RunInTx's COMMIT fails.
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
	return t.Tx.Commit()
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
