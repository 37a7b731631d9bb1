package retrysql

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgCheck is the commit check of PostgreSQL (10 and later), by
// transaction id: the proof, first thing in the transaction, assigns it
// one (txid_current; a transaction that then writes nothing still writes a
// commit record). Its rules, for the transaction X:
//
//   - The look runs on a primary only: a standby may not have replayed X
//     yet.
//   - On the server instance that ran X (same start time), txid_status is
//     the truth: committed, aborted, or in progress, which means X's
//     backend may still be committing; it is terminated (only while it is
//     still the backend running X) and the status asked again.
//   - After a restart, or on another server (a promoted standby), X's id
//     may have been given to another transaction: when X's first write
//     never reached the disk or the standby, the server continues a
//     history without X and hands its id out again. "aborted" or "in the
//     future" still mean that X did not commit on the history the server
//     continues, and "in progress" is waited out; but "committed" may be
//     another transaction's, so it is unknowable. (No function tells a
//     user which restart a checkpoint or a transaction id belongs to; a
//     marker row would, at the cost of a write per transaction.)
type pgCheck struct{}

func (pgCheck) prepare(context.Context, *sql.DB) error { return nil }

func (pgCheck) committed(context.Context, *sql.DB) {}

func (pgCheck) prove(ctx context.Context, tx *sql.Tx) (commitProof, error) {
	var id, pid, started int64
	err := tx.QueryRowContext(ctx, "SELECT txid_current(), pg_backend_pid(), "+pgStarted).Scan(&id, &pid, &started)
	if err != nil {
		return commitProof{}, err
	}
	return commitProof{id: id, session: uint64(pid), started: started}, nil
}

// pgStarted is when the server started, in microseconds since 1970: with
// the pid, it tells one server instance from another.
const pgStarted = "(extract(epoch FROM pg_postmaster_start_time()) * 1000000)::int8"

// pgServer tells which server a look runs on: when it started, and
// whether it is a standby.
const pgServer = "SELECT " + pgStarted + ", pg_is_in_recovery()"

func (pgCheck) look(ctx context.Context, conn *sql.Conn, p commitProof) verdict {
	var started int64
	var standby bool
	if err := conn.QueryRowContext(ctx, pgServer).Scan(&started, &standby); err != nil {
		return lookAgain
	}
	if standby {
		return lookAgain
	}
	same := started == p.started
	var status sql.NullString
	err := conn.QueryRowContext(ctx, "SELECT txid_status($1)", p.id).Scan(&status)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "22023":
		// "transaction ID ... is in the future": this server never saw X.
		return notCommitted
	case errors.As(err, &pgErr):
		return unknowable
	case err != nil:
		return lookAgain
	case !status.Valid:
		return unknowable // too old: its status is gone
	case status.String == "committed":
		if same {
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
