package retrysql

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql/classify"
)

// pgCheck is the commit check of PostgreSQL (10 and later), by
// transaction id: the proof, first thing in the transaction, assigns it
// one (txid_current; a transaction that then writes nothing still writes a
// commit record) and notes the server instance (start time, timeline,
// system identifier). Its rules, for the transaction X, looking on a
// primary only (a standby may not have replayed X yet):
//
//   - On the server instance that ran X (same start time), txid_status is
//     the truth: committed, aborted, or in progress, which means X's
//     backend may still be committing; it is terminated (only while it is
//     still the backend running X) and the status asked again.
//   - On another instance, X's id may have been given to another
//     transaction: a crash loses the assignment of an id whose first write
//     had not reached the disk, and recovery hands it out again (measured:
//     txid_current() gave the same id before and after a kill -9); a
//     promoted standby continues a history that may lack X. "aborted" and
//     "in the future" still mean that X did not commit on the history the
//     server continues, and "in progress" is waited out. "committed" is
//     X's own only when no crash recovery and no promotion happened since
//     X's instance started: same system and timeline, and the statistics,
//     which crash recovery resets, last reset before then. Otherwise it is
//     unknowable. A server of another system tells nothing.
type pgCheck struct{}

func (pgCheck) prepare(context.Context, *sql.DB) error { return nil }

func (pgCheck) committed(context.Context, *sql.DB) {}

func (pgCheck) prove(ctx context.Context, tx *sql.Tx) (commitProof, error) {
	return pgProve(ctx, func(ctx context.Context, query string, dest ...any) error {
		return tx.QueryRowContext(ctx, query).Scan(dest...)
	})
}

// pgProof is the proof's query: the transaction's id (which it assigns),
// its backend's pid and the server instance.
const pgProof = "SELECT txid_current(), pg_backend_pid(), " + pgInstance

// pgProve runs the proof's query with queryRow, in the transaction, and
// returns the proof; RunInTx's check and TransactOn's (TxAttempt.Prove)
// both prove this way.
func pgProve(ctx context.Context, queryRow func(ctx context.Context, query string, dest ...any) error) (commitProof, error) {
	var p commitProof
	var pid int64
	err := queryRow(ctx, pgProof, &p.id, &pid, &p.started, &p.timeline, &p.system)
	p.session = uint64(pid)
	return p, err
}

// pgInstance tells a server instance: when it started (microseconds since
// 1970), its timeline (0 on a standby) and its system identifier.
const pgInstance = `(extract(epoch FROM pg_postmaster_start_time()) * 1000000)::int8,
	CASE WHEN pg_is_in_recovery() THEN 0 ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int8 END,
	(SELECT system_identifier FROM pg_control_system())`

// pgServer tells which server a look runs on, and when its statistics
// were last reset (crash recovery resets them; no value: now).
const pgServer = "SELECT " + pgInstance + `,
	COALESCE((SELECT (extract(epoch FROM stats_reset) * 1000000)::int8 FROM pg_stat_bgwriter), (extract(epoch FROM now()) * 1000000)::int8)`

func (pgCheck) look(ctx context.Context, conn *sql.Conn, p commitProof) verdict {
	var started, timeline, system, reset int64
	if err := conn.QueryRowContext(ctx, pgServer).Scan(&started, &timeline, &system, &reset); err != nil {
		return lookAgain
	}
	switch {
	case timeline == 0:
		return lookAgain // a standby
	case system != p.system:
		return unknowable
	}
	same := started == p.started
	// X's id is X's alone here when no crash recovery (which resets the
	// statistics) and no promotion (a new timeline) came after X's
	// instance started.
	unshared := same || (timeline == p.timeline && reset < p.started)
	var status sql.NullString
	err := conn.QueryRowContext(ctx, "SELECT txid_status($1)", p.id).Scan(&status)
	switch {
	case err != nil:
		return statusFailed(err)
	case !status.Valid:
		return unknowable // too old: its status is gone
	case status.String == "committed":
		if unshared {
			return isCommitted
		}
		return unknowable
	case status.String == "aborted":
		return notCommitted
	case !same:
		return lookAgain // another transaction's: wait until it ends
	}
	// In progress, on X's own server: X's backend may be committing right
	// now. End it (the COMMIT completes or not, atomically), but only
	// while that pid still runs X, then ask again.
	conn.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND backend_xid::text = ($2 % 4294967296)::text",
		int64(p.session), p.id)
	return lookAgain
}

// statusFailed is what a look makes of txid_status's error.
func statusFailed(err error) verdict {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "22023":
		// "transaction ID ... is in the future": this server never saw X.
		return notCommitted
	case classify.Default.Classify(err).Class != classify.Permanent:
		// The server went away under the question (57P01 while it shuts
		// down, a reset) or cannot answer now: ask again.
		return lookAgain
	}
	return unknowable
}
