package retrysql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"runtime"
	"sync"
	"time"
	"weak"
)

// mysqlCheck is the commit check of MySQL and MariaDB, which have no
// function like txid_status: a marker row. The transaction inserts a row
// with a random token into markersTable, and the same statement hands
// back (as its last insert id) a hash of the server's identity (host
// name, port, server id). A look reads the marker with a locking read that
// does not wait (FOR UPDATE NOWAIT, MySQL 8 and MariaDB 10.3 and later):
//
//   - Found, on any server of the handle: committed (a random token is in
//     no other transaction, and a replica or a Galera node has the row
//     only once the transaction committed).
//   - Locked: the transaction is still open on this server (its COMMIT
//     under way, its session lingering behind a cut connection, or being
//     rolled back after a crash): looked at again.
//   - Neither, on the server that wrote it: the transaction ended without
//     committing, and its row with it; not committed. A restart does not
//     change this: crash recovery rolls back what did not commit, holding
//     its locks until it has.
//   - Neither, on another server: looked at again (the row may not have
//     reached it yet), and unknowable if it does not come in time.
//
// No session is killed and no privilege beyond the table's is needed. The
// table is created on demand (CREATE TABLE IF NOT EXISTS, once per handle)
// and rows older than markerAge are deleted after a commit, at most once
// every cleanEvery per handle, so it holds about ten minutes of
// transactions.
type mysqlCheck struct{}

const (
	markersTable = "retrysql_commit_markers"
	markerAge    = 10 * time.Minute
	cleanEvery   = time.Minute
)

// mysqlServer is the hash of a server's identity.
const mysqlServer = "CRC32(CONCAT(@@hostname, ':', @@port, ':', @@server_id))"

// cleaned is when each handle's markers were last cleaned, by a weak
// pointer to the handle (an entry goes when its handle is collected).
var cleaned sync.Map // weak.Pointer[sql.DB] → time.Time

func (mysqlCheck) prepare(ctx context.Context, db *sql.DB) error {
	key := weak.Make(db)
	if _, ok := cleaned.Load(key); ok {
		return nil
	}
	_, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+markersTable+
		" (token BINARY(16) PRIMARY KEY, server BIGINT UNSIGNED NOT NULL, at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, INDEX (at))"+
		" COMMENT 'retrysql: proofs of commit (WithCommitCheck); rows older than ten minutes are deleted'")
	if err == nil {
		if _, loaded := cleaned.LoadOrStore(key, time.Now()); !loaded {
			runtime.AddCleanup(db, func(k weak.Pointer[sql.DB]) { cleaned.Delete(k) }, key)
		}
	}
	return err
}

func (mysqlCheck) prove(ctx context.Context, tx *sql.Tx) (commitProof, error) {
	token := make([]byte, 16)
	rand.Read(token)
	// The token is written in the statement (it is ours, in hex), so that
	// the statement needs no prepared statement: one round trip.
	res, err := tx.ExecContext(ctx, "INSERT INTO "+markersTable+" (token, server) VALUES (X'"+hex.EncodeToString(token)+"', LAST_INSERT_ID("+mysqlServer+"))")
	if err != nil {
		return commitProof{}, err
	}
	server, err := res.LastInsertId()
	if err != nil {
		return commitProof{}, err
	}
	return commitProof{session: uint64(server), token: token}, nil
}

func (mysqlCheck) look(ctx context.Context, conn *sql.Conn, p commitProof) verdict {
	var server uint64
	if err := conn.QueryRowContext(ctx, "SELECT "+mysqlServer).Scan(&server); err != nil {
		return lookAgain
	}
	var found int
	err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+markersTable+" WHERE token = ? FOR UPDATE NOWAIT", p.token).Scan(&found)
	switch {
	case err != nil:
		return lookAgain // locked, or no answer
	case found > 0:
		return isCommitted
	case server == p.session:
		return notCommitted
	}
	return lookAgain
}

// committed deletes old markers of db after a commit, at most once every
// cleanEvery.
func (mysqlCheck) committed(ctx context.Context, db *sql.DB) {
	key := weak.Make(db)
	last, ok := cleaned.Load(key)
	if !ok || time.Since(last.(time.Time)) < cleanEvery || !cleaned.CompareAndSwap(key, last, time.Now()) {
		return
	}
	db.ExecContext(ctx, "DELETE FROM "+markersTable+" WHERE at < NOW() - INTERVAL ? SECOND LIMIT 10000", int(markerAge.Seconds()))
}
