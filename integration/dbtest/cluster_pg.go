package dbtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A PGCluster is a PostgreSQL 15 primary and its streaming standbys
// (asynchronous physical replication), each an Instance of the test's own
// on a free port: node 0 starts as the primary, nodes 1.. as its standbys.
// Each node's walreceiver reports its name ("node1") as application_name,
// so pg_stat_replication tells the standbys apart.
//
// The nodes run with fsync off (the page cache survives a killed process)
// but synchronous_commit on: a killed primary loses only what it had not
// yet sent to a standby, never what it acknowledged before writing it.
type PGCluster struct {
	t     testing.TB
	nodes []*Instance

	mu      sync.Mutex
	primary int
}

// The settings of every node's postgresql.conf (standbys copy it):
// pg_rewind needs wal_log_hints and full_page_writes (on by default).
const pgReplicationConf = `
# retrysql's streaming replication cluster
wal_level = replica
wal_log_hints = on
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_keep_size = 256MB
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 200ms
`

// StartPGCluster starts a primary and standbys (1 or 2) of the test's
// own, with a database "test", and returns once every standby streams.
// The test's cleanup stops every node by its PID.
func StartPGCluster(t testing.TB, standbys int) *PGCluster {
	t.Helper()
	if standbys < 1 || standbys > 2 {
		t.Fatalf("StartPGCluster: %d standbys: 1 or 2", standbys)
	}
	for _, b := range []string{"pg_basebackup", "pg_rewind"} {
		if _, err := os.Stat(filepath.Join(pgBin, b)); err != nil {
			unavailable(t, "PostgreSQL 15's %s is not installed (%v)", b, err)
		}
	}
	began := time.Now()
	c := &PGCluster{t: t}
	started := timeTeardown(t, "PostgreSQL cluster")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	p := c.newNode(t)
	p.initdb(t)
	appendFile(t, filepath.Join(p.data, "postgresql.conf"), pgReplicationConf)
	p.startFresh(t, ctx, p.startPostgres)
	if err := execOn(ctx, "pgx", p.adminDSN(), "CREATE DATABASE test"); err != nil {
		t.Fatalf("PostgreSQL cluster: %v", err)
	}
	for range standbys {
		s := c.newNode(t)
		out, err := s.pgCommand(ctx, filepath.Join(pgBin, "pg_basebackup"), "-D", s.data,
			"-d", fmt.Sprintf("host=127.0.0.1 port=%d user=postgres", p.port),
			"-R", "-X", "stream", "-c", "fast", "--no-sync").CombinedOutput()
		if err != nil {
			t.Fatalf("pg_basebackup for %s: %v: %s", s.name, err, bytes.TrimSpace(out))
		}
		if err := c.follow(s, p); err != nil {
			t.Fatal(err)
		}
		s.startFresh(t, ctx, s.startPostgres)
	}
	for n := 1; n <= standbys; n++ {
		if err := c.WaitStreaming(ctx, 0, n); err != nil {
			t.Fatal(err)
		}
	}
	started()
	t.Logf("PostgreSQL cluster (primary %s, %d standbys) started in %v", p.Addr(), standbys, time.Since(began).Round(time.Millisecond))
	return c
}

func (c *PGCluster) newNode(t testing.TB) *Instance {
	name := fmt.Sprintf("node%d", len(c.nodes))
	i := newPostgres(t, "retrysql-pgc-*", name)
	i.settings = []string{"fsync=off", "cluster_name=" + name}
	c.nodes = append(c.nodes, i)
	return i
}

// Len returns the number of nodes.
func (c *PGCluster) Len() int { return len(c.nodes) }

// Node returns node n.
func (c *PGCluster) Node(n int) *Instance { return c.nodes[n] }

// Primary returns the node that was made primary last: 0 at first, then
// the last one promoted.
func (c *PGCluster) Primary() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.primary
}

// DSN returns node n's DSN (database "test").
func (c *PGCluster) DSN(n int) string { return c.nodes[n].DSN() }

// MultiHostDSN returns a DSN naming every node, in order, with
// target_session_attrs=read-write: a new connection lands on the node that
// accepts writes.
func (c *PGCluster) MultiHostDSN() string {
	hosts := make([]string, len(c.nodes))
	for n, i := range c.nodes {
		hosts[n] = i.Addr()
	}
	return "postgres://postgres@" + strings.Join(hosts, ",") + "/test?sslmode=disable&target_session_attrs=read-write"
}

// StopFast stops node n with a fast shutdown (every session ends with
// 57P01) and returns once it has exited.
func (c *PGCluster) StopFast(n int) error { return c.nodes[n].Stop() }

// KillPostmaster kills node n's postmaster with SIGKILL, as a crash would,
// and returns once its backends have exited too.
func (c *PGCluster) KillPostmaster(n int) error { return c.nodes[n].Kill() }

// Start starts the stopped node n again, as it was (a standby has its
// standby.signal), and returns once it accepts connections.
func (c *PGCluster) Start(ctx context.Context, n int) error { return c.nodes[n].Start(ctx) }

// Promote promotes standby n (pg_ctl promote) and returns once it accepts
// writes.
func (c *PGCluster) Promote(ctx context.Context, n int) error {
	i := c.nodes[n]
	out, err := i.pgCommand(ctx, filepath.Join(pgBin, "pg_ctl"), "-D", i.data, "-w", "-t", "60", "promote").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl promote %s: %v: %s", i.name, err, bytes.TrimSpace(out))
	}
	if err := waitFor(ctx, func(ctx context.Context) error {
		return execOn(ctx, "pgx", i.DSN(), "SELECT txid_current()")
	}); err != nil {
		return fmt.Errorf("%s promoted but does not accept writes: %w", i.name, err)
	}
	c.mu.Lock()
	c.primary = n
	c.mu.Unlock()
	return nil
}

// Demote makes the running node n read-only while it keeps running, as
// an operator who fences an old primary would: ALTER SYSTEM SET
// default_transaction_read_only = on on that instance, and a reload. It
// returns once a new session there is read-only. Sessions open before
// it answer every write with 25006 from their next transaction on. It is
// no fence: a session may SET default_transaction_read_only = off.
func (c *PGCluster) Demote(ctx context.Context, n int) error { return c.SetReadOnly(ctx, n, true) }

// SetReadOnly sets (Demote) or resets node n's default_transaction_read_only.
func (c *PGCluster) SetReadOnly(ctx context.Context, n int, on bool) error {
	i := c.nodes[n]
	stmt, want := "ALTER SYSTEM RESET default_transaction_read_only", "off"
	if on {
		stmt, want = "ALTER SYSTEM SET default_transaction_read_only = on", "on"
	}
	for _, s := range []string{stmt, "SELECT pg_reload_conf()"} {
		if err := execOn(ctx, "pgx", i.adminDSN(), s); err != nil {
			return fmt.Errorf("%s: %w", i.name, err)
		}
	}
	return waitFor(ctx, func(ctx context.Context) error {
		var got string
		if err := queryOn(ctx, "pgx", i.adminDSN(), "SHOW default_transaction_read_only", &got); err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s: default_transaction_read_only is %s after the reload", i.name, got)
		}
		return nil
	})
}

// Rejoin makes node n (an old primary, running or not) a standby of node
// primary: it stops n, rewinds its data directory to primary's timeline
// with pg_rewind (which first runs crash recovery on a node that was
// killed), writes standby.signal and a primary_conninfo naming primary,
// starts it, and returns once it streams.
func (c *PGCluster) Rejoin(ctx context.Context, n, primary int) error {
	i, p := c.nodes[n], c.nodes[primary]
	if err := i.Stop(); err != nil {
		return err
	}
	// pg_rewind reads the source's timeline from its control file, which
	// a promotion updates only at its next checkpoint.
	if err := execOn(ctx, "pgx", p.adminDSN(), "CHECKPOINT"); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	i.mu.Lock()
	out, err := i.pgCommand(ctx, filepath.Join(pgBin, "pg_rewind"), "--target-pgdata="+i.data,
		fmt.Sprintf("--source-server=host=127.0.0.1 port=%d user=postgres dbname=postgres", p.port)).CombinedOutput()
	i.mu.Unlock()
	if err != nil {
		return fmt.Errorf("pg_rewind %s from %s: %v: %s", i.name, p.name, err, bytes.TrimSpace(out))
	}
	if err := c.follow(i, p); err != nil {
		return err
	}
	if err := i.Start(ctx); err != nil {
		return err
	}
	return c.WaitStreaming(ctx, primary, n)
}

// follow makes the stopped node i a standby of p: standby.signal, and
// p's primary_conninfo in postgresql.auto.conf (which pg_basebackup -R and
// pg_rewind may have written, and ALTER SYSTEM keeps).
func (c *PGCluster) follow(i, p *Instance) error {
	auto := filepath.Join(i.data, "postgresql.auto.conf")
	b, err := os.ReadFile(auto)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var kept []string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line != "" && !strings.HasPrefix(strings.TrimSpace(line), "primary_conninfo") {
			kept = append(kept, line)
		}
	}
	kept = append(kept, fmt.Sprintf("primary_conninfo = 'host=127.0.0.1 port=%d user=postgres application_name=%s'", p.port, i.name))
	if err := os.WriteFile(auto, []byte(strings.Join(kept, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	signal := filepath.Join(i.data, "standby.signal")
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		return err
	}
	if i.uid >= 0 {
		for _, f := range []string{auto, signal} {
			if err := os.Chown(f, i.uid, i.gid); err != nil {
				return err
			}
		}
	}
	return nil
}

// WaitStreaming returns once node primary's pg_stat_replication shows
// node standby streaming.
func (c *PGCluster) WaitStreaming(ctx context.Context, primary, standby int) error {
	p, s := c.nodes[primary], c.nodes[standby]
	return waitFor(ctx, func(ctx context.Context) error {
		var n int
		if err := queryOn(ctx, "pgx", p.adminDSN(),
			"SELECT count(*) FROM pg_stat_replication WHERE application_name = '"+s.name+"' AND state = 'streaming'", &n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%s does not stream from %s", s.name, p.name)
		}
		return nil
	})
}

// WaitReplayed returns once standby has replayed all the WAL that primary
// had written when it was called.
func (c *PGCluster) WaitReplayed(ctx context.Context, primary, standby int) error {
	p, s := c.nodes[primary], c.nodes[standby]
	var lsn string
	if err := queryOn(ctx, "pgx", p.adminDSN(), "SELECT pg_current_wal_lsn()::text", &lsn); err != nil {
		return err
	}
	return waitFor(ctx, func(ctx context.Context) error {
		var ok bool
		if err := queryOn(ctx, "pgx", s.adminDSN(), "SELECT coalesce(pg_last_wal_replay_lsn() >= '"+lsn+"'::pg_lsn, false)", &ok); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s has not replayed %s's WAL up to %s", s.name, p.name, lsn)
		}
		return nil
	})
}

// queryOn reads one row from a fresh connection.
func queryOn(ctx context.Context, driver, dsn, query string, dest ...any) error {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.QueryRowContext(ctx, query).Scan(dest...)
}

// waitFor calls check until it succeeds or ctx ends, and then returns
// check's last error.
func waitFor(ctx context.Context, check func(context.Context) error) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(cctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%v)", err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func appendFile(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// timeTeardown logs how long the teardown of what a test starts takes:
// call it before starting anything, and the function it returns once all
// is started (cleanups run last-registered first).
func timeTeardown(t testing.TB, what string) (started func()) {
	var began time.Time
	t.Cleanup(func() {
		if !began.IsZero() {
			t.Logf("%s stopped and removed in %v", what, time.Since(began).Round(time.Millisecond))
		}
	})
	return func() { t.Cleanup(func() { began = time.Now() }) }
}
