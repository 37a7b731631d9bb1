package retrysql

import (
	"database/sql/driver"

	"github.com/jackc/pgx/v5/stdlib"
)

// A pooled connection whose server ended it while it was idle (its
// backend terminated, the server shut down) has the server's last words
// waiting on the socket: for PostgreSQL a FATAL 57P01. The next statement
// would be written first and then read them, unable to tell whether it
// ran. When database/sql hands such a connection out again (ResetSession),
// retrysql looks at the socket without blocking and without writing
// (a peeker, per platform): if the server has spoken or hung up, the
// connection is bad before anything was sent, and database/sql takes
// another. go-sql-driver/mysql does the same check itself
// (CheckConnLiveness); pgx does not, within a second of the last use.

// idleCheck returns the check for the driver's connection inner, or nil.
func idleCheck(inner driver.Conn) func() error {
	c, ok := inner.(*stdlib.Conn)
	if !ok {
		return nil
	}
	pg := c.Conn().PgConn()
	p := newPeeker(pg.Conn())
	return func() error {
		if pg.IsClosed() {
			return driver.ErrBadConn
		}
		for try := 0; ; try++ {
			closed, pending := p.peek()
			switch {
			case closed:
				return driver.ErrBadConn
			case !pending:
				return nil
			case try == 3:
				// Bytes pgx will not take in time (CheckConn reads for
				// a millisecond, which a busy machine may not give its
				// reader): a connection whose server spoke unasked is
				// not trusted with a statement whose outcome must be
				// known.
				return driver.ErrBadConn
			}
			// Let pgx read what is there (a FATAL closes the connection; a
			// notice or a notification is handled as pgx handles it).
			// CheckConn, not Ping: bytes are already waiting, so a read
			// is enough, and writing a ping is what this check avoids.
			//lint:ignore SA1019 deliberate: read what is pending, write nothing
			if err := pg.CheckConn(); err != nil || pg.IsClosed() {
				return driver.ErrBadConn
			}
		}
	}
}
