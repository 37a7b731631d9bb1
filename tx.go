package retrysql

import "database/sql/driver"

// tx wraps a driver's transaction to know when its connection leaves the
// transaction. Its statements run on the connection, which does not retry
// them.
type tx struct {
	inner driver.Tx
	c     *conn
}

var _ driver.Tx = (*tx)(nil)

// Commit implements driver.Tx.
func (t *tx) Commit() error {
	defer t.end()
	return t.inner.Commit()
}

// Rollback implements driver.Tx.
func (t *tx) Rollback() error {
	defer t.end()
	return t.inner.Rollback()
}

func (t *tx) end() {
	t.c.txst.Store(nil)
	t.c.inTx.Store(false)
}
