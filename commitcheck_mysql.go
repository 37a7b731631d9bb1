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
//     its locks until it has. But a marker written nearly markerAge ago
//     (the transaction began that long before its COMMIT) may have been
//     deleted committed by a cleanup: unknowable.
//   - Neither, on another server: looked at again (the row may not have
//     reached it yet), and unknowable if it does not come in time.
//
// No session is killed and no privilege beyond the table's is needed. The
// table is created on demand (CREATE TABLE IF NOT EXISTS, once per handle)
// and holds about markerAge of transactions: after a commit, at most once
// every cleanEvery per handle (and at its first commit, which clears what
// processes gone before left), rows older than markerAge are deleted, in
// a batch at least twice as large as the markers the handle committed
// since its last cleanup; a batch that was full is followed by another at
// the next commit. Deleting keeps pace with any rate of commits, so the
// table's size stays bounded by markerAge times the rate.
type mysqlCheck struct{}

const (
	markersTable = "retrysql_commit_markers"
	markerAge    = 10 * time.Minute
	cleanEvery   = time.Minute
	minCleanup   = 10000 // the smallest batch of old markers deleted at once
)

// mysqlServer is the hash of a server's identity.
const mysqlServer = "CRC32(CONCAT(@@hostname, ':', @@port, ':', @@server_id))"

// markerStates holds each handle's cleanup state, by a weak pointer to
// the handle (an entry goes when its handle is collected).
var markerStates sync.Map // weak.Pointer[sql.DB] → *markerState

// markerState is when a handle's markers are to be cleaned next, and how
// many it committed since it last cleaned them.
type markerState struct {
	mu      sync.Mutex
	due     time.Time // zero: at the next commit
	written int
}

// cleanup returns the size of the batch to delete now, or 0 when it is
// not time yet; now is the time of a commit that wrote a marker.
func (m *markerState) cleanup(now time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.written++
	if now.Before(m.due) {
		return 0
	}
	n := max(minCleanup, 2*m.written)
	m.written, m.due = 0, now.Add(cleanEvery)
	return n
}

// again makes the next commit clean again (the last batch was full).
func (m *markerState) again() {
	m.mu.Lock()
	m.due = time.Time{}
	m.mu.Unlock()
}

func (mysqlCheck) prepare(ctx context.Context, db *sql.DB) error {
	key := weak.Make(db)
	if _, ok := markerStates.Load(key); ok {
		return nil
	}
	_, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+markersTable+
		" (token BINARY(16) PRIMARY KEY, server BIGINT UNSIGNED NOT NULL, at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, INDEX (at))"+
		" COMMENT 'retrysql: proofs of commit (WithCommitCheck); rows older than ten minutes are deleted'")
	if err == nil {
		if _, loaded := markerStates.LoadOrStore(key, &markerState{}); !loaded {
			runtime.AddCleanup(db, func(k weak.Pointer[sql.DB]) { markerStates.Delete(k) }, key)
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
	return commitProof{session: uint64(server), token: token, at: time.Now()}, nil
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
	case server == p.session && time.Since(p.at) < markerAge-2*resolveWithin:
		return notCommitted
	case server == p.session:
		// Written so long ago (a transaction open for minutes) that a
		// cleanup, by the marker's age, may have deleted it committed.
		return unknowable
	}
	return lookAgain
}

// committed deletes old markers of db after a commit when it is time
// (markerState.cleanup), in the commit's context: one transaction a
// minute per handle pays for one indexed DELETE.
func (mysqlCheck) committed(ctx context.Context, db *sql.DB) {
	v, ok := markerStates.Load(weak.Make(db))
	if !ok {
		return
	}
	m := v.(*markerState)
	n := m.cleanup(time.Now())
	if n == 0 {
		return
	}
	res, err := db.ExecContext(ctx, "DELETE FROM "+markersTable+" WHERE at < NOW() - INTERVAL ? SECOND LIMIT ?", int(markerAge.Seconds()), n)
	if err != nil {
		m.again()
		return
	}
	if deleted, err := res.RowsAffected(); err == nil && deleted >= int64(n) {
		m.again()
	}
}
