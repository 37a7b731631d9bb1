package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"
)

// A MariaDBReplication is a MariaDB primary (node 0) and its replica
// (node 1), replicating by GTID (log_bin, log_slave_updates,
// gtid_strict_mode, a server_id each), both instances of the test's own.
// The database "test" and the users AppUser and rs_repl (REPLICATION
// SLAVE) were made on the primary and replicated. The replica runs with
// read_only = 1.
type MariaDBReplication struct {
	t     testing.TB
	nodes []*Instance

	mu      sync.Mutex
	primary int
}

const (
	replUser     = "rs_repl"
	replPassword = "rs_repl_pw"
)

func replicationCnf(serverID int) string {
	return fmt.Sprintf(`# retrysql's GTID replication
server_id = %d
log_bin = mysql-bin
relay_log = relay-bin
log_slave_updates = ON
gtid_strict_mode = ON
binlog_format = ROW
slave_net_timeout = 5
`, serverID)
}

// StartMariaDBReplication starts a primary and a replica of the test's
// own, and returns once the replica has applied the primary's setup.
// The test's cleanup stops both by their PIDs.
func StartMariaDBReplication(t testing.TB) *MariaDBReplication {
	t.Helper()
	began := time.Now()
	r := &MariaDBReplication{t: t}
	started := timeTeardown(t, "MariaDB replication")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for n := range 2 {
		i := newMariaDB(t, "retrysql-myrep-*", fmt.Sprintf("node%d", n), "", replicationCnf(n+1))
		i.installDB(t)
		i.startFresh(t, ctx, i.startMariaDB)
		r.nodes = append(r.nodes, i)
	}
	p := r.nodes[0]
	for _, stmt := range append([]string{"CREATE DATABASE test"}, appUserSQL()...) {
		if err := execOn(ctx, "mysql", p.adminDSN(), stmt); err != nil {
			t.Fatalf("MariaDB primary: %v", err)
		}
	}
	if err := execOn(ctx, "mysql", p.adminDSN(), fmt.Sprintf(
		"CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", replUser, replPassword)); err != nil {
		t.Fatal(err)
	}
	if err := execOn(ctx, "mysql", p.adminDSN(), "GRANT REPLICATION SLAVE ON *.* TO '"+replUser+"'@'%'"); err != nil {
		t.Fatal(err)
	}
	if err := r.replicate(ctx, 1, 0, "slave_pos"); err != nil {
		t.Fatal(err)
	}
	started()
	t.Logf("MariaDB replication (primary %s, replica %s) started in %v", p.Addr(), r.nodes[1].Addr(), time.Since(began).Round(time.Millisecond))
	return r
}

// appUserSQL makes AppUser, allowed everything on the database "test".
func appUserSQL() []string {
	return []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", AppUser, AppPassword),
		fmt.Sprintf("GRANT ALL ON test.* TO '%s'@'%%'", AppUser),
	}
}

// Node returns node n.
func (r *MariaDBReplication) Node(n int) *Instance { return r.nodes[n] }

// Primary returns the node that was made primary last: 0 at first, then
// the last one promoted.
func (r *MariaDBReplication) Primary() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.primary
}

// DSN returns AppUser's DSN on node n (database "test").
func (r *MariaDBReplication) DSN(n int) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/test", AppUser, AppPassword, r.nodes[n].Addr())
}

// RootDSN returns root's DSN on node n (database "test"): root writes
// through read_only.
func (r *MariaDBReplication) RootDSN(n int) string { return r.nodes[n].DSN() }

// FailoverDSN returns AppUser's MySQLFailoverDSN over node 0, then node 1.
func (r *MariaDBReplication) FailoverDSN() string {
	return MySQLFailoverDSN(AppUser, AppPassword, r.nodes[0].Addr(), r.nodes[1].Addr())
}

// SetReadOnly sets node n's read_only: AppUser's writes there then get
// 1290, on open connections as on new ones.
func (r *MariaDBReplication) SetReadOnly(ctx context.Context, n int, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return execOn(ctx, "mysql", r.nodes[n].adminDSN(), fmt.Sprintf("SET GLOBAL read_only = %d", v))
}

// Promote makes replica n the primary: it stops fetching from the old
// primary, waits (bounded by ctx) until it has applied what it fetched,
// drops its replication settings (STOP SLAVE, RESET SLAVE ALL) and sets
// read_only = 0.
func (r *MariaDBReplication) Promote(ctx context.Context, n int) error {
	i := r.nodes[n]
	if err := execOn(ctx, "mysql", i.adminDSN(), "STOP SLAVE IO_THREAD"); err != nil {
		return err
	}
	if err := waitFor(ctx, func(ctx context.Context) error {
		st, err := slaveStatus(ctx, i.adminDSN())
		if err != nil {
			return err
		}
		if st["Slave_SQL_Running"] == "Yes" && (st["Relay_Master_Log_File"] != st["Master_Log_File"] || st["Exec_Master_Log_Pos"] != st["Read_Master_Log_Pos"]) {
			return fmt.Errorf("%s has not applied its relay log yet", i.name)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, stmt := range []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = 0"} {
		if err := execOn(ctx, "mysql", i.adminDSN(), stmt); err != nil {
			return fmt.Errorf("%s: %w", i.name, err)
		}
	}
	r.mu.Lock()
	r.primary = n
	r.mu.Unlock()
	return nil
}

// Rejoin makes node n (an old primary; started if it was stopped) a
// read-only replica of node primary, from its own current GTID position
// (master_use_gtid = current_pos), and returns once it has caught up.
func (r *MariaDBReplication) Rejoin(ctx context.Context, n, primary int) error {
	i := r.nodes[n]
	if i.PID() == 0 {
		if err := i.Start(ctx); err != nil {
			return err
		}
	}
	return r.replicate(ctx, n, primary, "current_pos")
}

// replicate makes node n a read-only replica of node primary, and waits
// until it has caught up.
func (r *MariaDBReplication) replicate(ctx context.Context, n, primary int, pos string) error {
	i, p := r.nodes[n], r.nodes[primary]
	for _, stmt := range []string{
		"SET GLOBAL read_only = 1",
		"STOP SLAVE",
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %d, MASTER_USER = '%s', MASTER_PASSWORD = '%s', MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = %s",
			p.port, replUser, replPassword, pos),
		"START SLAVE",
	} {
		if err := execOn(ctx, "mysql", i.adminDSN(), stmt); err != nil {
			return fmt.Errorf("%s: %w", i.name, err)
		}
	}
	return r.WaitReplicated(ctx, primary, n)
}

// WaitReplicated returns once replica runs both replication threads and
// has applied every transaction that primary had logged when it was
// called (MASTER_GTID_WAIT).
func (r *MariaDBReplication) WaitReplicated(ctx context.Context, primary, replica int) error {
	p, i := r.nodes[primary], r.nodes[replica]
	var pos string
	if err := queryOn(ctx, "mysql", p.adminDSN(), "SELECT @@gtid_binlog_pos", &pos); err != nil {
		return err
	}
	return waitFor(ctx, func(ctx context.Context) error {
		st, err := slaveStatus(ctx, i.adminDSN())
		if err != nil {
			return err
		}
		if st["Slave_IO_Running"] != "Yes" || st["Slave_SQL_Running"] != "Yes" {
			return fmt.Errorf("%s replicating from %s: IO %s, SQL %s: %s%s", i.name, p.name,
				st["Slave_IO_Running"], st["Slave_SQL_Running"], st["Last_IO_Error"], st["Last_SQL_Error"])
		}
		var got int
		if err := queryOn(ctx, "mysql", i.adminDSN(), "SELECT MASTER_GTID_WAIT('"+pos+"', 1)", &got); err != nil {
			return err
		}
		if got != 0 {
			return fmt.Errorf("%s has not applied %s's GTIDs %s", i.name, p.name, pos)
		}
		return nil
	})
}

// slaveStatus returns SHOW SLAVE STATUS's row by column ("" everywhere
// on a server that replicates from none).
func slaveStatus(ctx context.Context, dsn string) (map[string]string, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	st := map[string]string{}
	if rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for k := range vals {
			ptrs[k] = &vals[k]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for k, c := range cols {
			st[c] = vals[k].String
		}
	}
	return st, rows.Err()
}
