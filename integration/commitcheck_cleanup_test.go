package integration_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// TestCommitCheckMarkersCleaned: on MariaDB the commit check leaves a
// marker row per committed transaction. 25,000 markers older than ten
// minutes, left by processes gone before, are deleted by a new handle's
// first commits (a full batch is followed by another at the next commit),
// while the markers of the last ten minutes stay. On an instance of the
// test's own, so that no other test's markers are counted.
func TestCommitCheckMarkersCleaned(t *testing.T) {
	inst := dbtest.StartMariaDB(t)
	ctx := context.Background()
	admin := inst.Open(t)
	db, err := sql.Open(retrysql.DriverMySQL, inst.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // the last handle db names
	tx := func() {
		t.Helper()
		if err := retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO rs_cleaned VALUES (1)")
			return err
		}, retrysql.WithCommitCheck(true)); err != nil {
			t.Fatal(err)
		}
	}
	dbtest.Exec(t, admin, "CREATE TABLE rs_cleaned (v INT)")
	tx() // creates the marker table (and cleans nothing)
	// Old markers, as processes gone before left them, and recent ones.
	dbtest.Exec(t, admin,
		"INSERT INTO retrysql_commit_markers (token, server, at) SELECT UNHEX(MD5(seq)), 1, NOW() - INTERVAL 11 MINUTE FROM seq_1_to_25000",
		"INSERT INTO retrysql_commit_markers (token, server, at) SELECT UNHEX(MD5(-seq)), 1, NOW() - INTERVAL 9 MINUTE FROM seq_1_to_100")
	count := func(cond string) int {
		var n int
		if err := admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM retrysql_commit_markers WHERE "+cond).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// A new handle, as a new process would open.
	db.Close()
	if db, err = sql.Open(retrysql.DriverMySQL, inst.DSN()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		tx()
		t.Logf("after commit %d: %d old markers", i, count("at < NOW() - INTERVAL 10 MINUTE"))
	}
	if old := count("at < NOW() - INTERVAL 10 MINUTE"); old != 0 {
		t.Fatalf("%d old markers left after three commits, want 0", old)
	}
	if recent := count("at >= NOW() - INTERVAL 10 MINUTE"); recent != 100+4 {
		t.Fatalf("%d recent markers, want the 100 inserted and the 4 committed", recent)
	}
}
