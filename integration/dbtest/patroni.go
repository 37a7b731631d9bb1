package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A Patroni is a PostgreSQL 15 cluster run by Patroni (3.0, Debian's
// package), with one etcd of the test's own as its DCS (etcd3): every
// Patroni runs as the postgres OS user with a YAML of its own (REST API
// on a free port, ttl 10, loop_wait 1, retry_timeout 4, use_pg_rewind),
// and runs its PostgreSQL on a free port in its own directories. Node 0
// bootstraps the cluster (initdb) and is its first leader.
type Patroni struct {
	t     testing.TB
	scope string
	etcd  *proc
	nodes []*PatroniNode
	http  *http.Client
}

// A PatroniNode is one member: its Patroni, and the PostgreSQL that
// Patroni starts, stops, promotes and rewinds (the test does not).
type PatroniNode struct {
	pg      *Instance // directories, port, PID checks and cleanup
	rest    int
	cfg     string
	patroni *proc
}

// The binaries of Debian's patroni, etcd-server and etcd-client packages.
var (
	patroniBin = findBinary("patroni", "/usr/bin/patroni")
	etcdBin    = findBinary("etcd", "/usr/bin/etcd")
)

// StartPatroni starts etcd and nodes Patroni members (3 for a cluster
// that survives the loss of its leader), and returns once node 0's REST
// API answers /leader with 200 and every other node streams from it. The
// test's cleanup stops every Patroni, then every postmaster left, then
// etcd, each by its PID. It skips the test when patroni or etcd is not
// installed, CI or not (apt-get install -y patroni etcd-server
// etcd-client).
func StartPatroni(t testing.TB, nodes int) *Patroni {
	t.Helper()
	if nodes < 1 || nodes > 5 {
		t.Fatalf("StartPatroni: %d nodes: 1 to 5", nodes)
	}
	if patroniBin == "" || etcdBin == "" {
		t.Skip("patroni or etcd is not installed (apt-get install -y patroni etcd-server etcd-client)")
	}
	began := time.Now()
	var id [4]byte
	_, _ = rand.Read(id[:])
	p := &Patroni{t: t, scope: "rs-" + hex.EncodeToString(id[:]), http: &http.Client{
		Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	started := timeTeardown(t, "Patroni cluster")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	etcdURL := p.startEtcd(t, ctx)
	for n := range nodes {
		p.nodes = append(p.nodes, p.newNode(t, n, etcdURL))
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, node := range p.nodes {
			if node.patroni != nil {
				wg.Go(func() {
					if err := node.patroni.stop(20 * time.Second); err != nil {
						t.Logf("Patroni %s: %v", node.pg.name, err)
					}
				})
			}
		}
		wg.Wait()
	})

	if err := p.startPatroni(0); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, func(ctx context.Context) error { return p.isLeader(ctx, 0) }); err != nil {
		t.Fatalf("Patroni node0 did not bootstrap the cluster: %v\n%s", err, p.nodes[0].pg.logTail(30))
	}
	if err := execOn(ctx, "pgx", p.nodes[0].pg.adminDSN(), "CREATE DATABASE test"); err != nil {
		t.Fatalf("Patroni cluster: %v", err)
	}
	for n := 1; n < nodes; n++ {
		if err := p.startPatroni(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.WaitStreaming(ctx, 0, nodes-1); err != nil {
		t.Fatal(err)
	}
	if nodes > 1 {
		if err := p.WaitSynchronous(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	started()
	t.Logf("Patroni cluster of %d nodes (leader %s, etcd %s) started in %v", nodes, p.nodes[0].pg.Addr(), etcdURL, time.Since(began).Round(time.Millisecond))
	return p
}

// startEtcd starts the DCS: one etcd member on free ports, and returns its
// client URL once /health answers.
func (p *Patroni) startEtcd(t testing.TB, ctx context.Context) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "retrysql-etcd-*")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	ports := freePorts(t, 2)
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	p.etcd, err = startProc("etcd", "--data-dir="+data, dir, filepath.Join(dir, "etcd.log"), -1, -1,
		[]string{"PATH=/usr/bin:/bin", "HOME=" + dir},
		etcdBin, "--name=rs", "--data-dir="+data,
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=rs="+peer, "--initial-cluster-state=new", "--initial-cluster-token="+p.scope,
		"--logger=zap", "--log-level=warn")
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.etcd.stop(10 * time.Second); err != nil {
			t.Logf("%v", err)
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "etcd.log")); err == nil {
				t.Logf("etcd's log, last lines:\n%s", lastLines(string(b), 20))
			}
		}
		os.RemoveAll(dir)
	})
	if err := waitFor(ctx, func(ctx context.Context) error {
		if p.etcd.pid() == 0 {
			return errors.New("etcd exited")
		}
		return p.get(ctx, client+"/health")
	}); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "etcd.log"))
		t.Fatalf("etcd did not start: %v\n%s", err, lastLines(string(b), 20))
	}
	return client
}

func (p *Patroni) newNode(t testing.TB, n int, etcdURL string) *PatroniNode {
	t.Helper()
	name := fmt.Sprintf("node%d", n)
	i := newPostgres(t, "retrysql-patroni-*", name)
	i.log = filepath.Join(i.dir, "patroni.log")
	ports := freePorts(t, 2)
	i.port = ports[0]
	node := &PatroniNode{pg: i, rest: ports[1], cfg: filepath.Join(i.dir, "patroni.yml")}
	yml := fmt.Sprintf(`# retrysql's Patroni member %[1]s
scope: %[2]s
namespace: /retrysql/
name: %[1]s
restapi:
  listen: 127.0.0.1:%[3]d
  connect_address: 127.0.0.1:%[3]d
etcd3:
  hosts: %[4]s
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        fsync: "off"
  initdb:
    - encoding: UTF8
    - locale: C
    - auth: trust
postgresql:
  listen: 127.0.0.1:%[5]d
  connect_address: 127.0.0.1:%[5]d
  data_dir: %[6]s
  bin_dir: %[7]s
  pgpass: %[8]s
  authentication:
    superuser:
      username: postgres
    replication:
      username: postgres
    rewind:
      username: postgres
  basebackup:
    - checkpoint: fast
    - no-sync
  parameters:
    unix_socket_directories: %[9]s
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
`, name, p.scope, node.rest, strings.TrimPrefix(etcdURL, "http://"), i.port, i.data, pgBin,
		filepath.Join(i.dir, "pgpass"), i.sock)
	if err := os.WriteFile(node.cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return node
}

func (p *Patroni) startPatroni(n int) error {
	node := p.nodes[n]
	var err error
	node.patroni, err = startProc("Patroni "+node.pg.name, node.cfg, node.pg.dir, node.pg.log, node.pg.uid, node.pg.gid,
		[]string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + node.pg.dir, "LANG=C.UTF-8"},
		patroniBin, node.cfg)
	return err
}

// Len returns the number of nodes.
func (p *Patroni) Len() int { return len(p.nodes) }

// Node returns node n.
func (p *Patroni) Node(n int) *PatroniNode { return p.nodes[n] }

// DSN returns node n's DSN (database "test").
func (p *Patroni) DSN(n int) string { return p.nodes[n].pg.DSN() }

// MultiHostDSN returns a DSN naming every node, in order, with
// target_session_attrs=read-write.
func (p *Patroni) MultiHostDSN() string {
	hosts := make([]string, len(p.nodes))
	for n, node := range p.nodes {
		hosts[n] = node.pg.Addr()
	}
	return "postgres://postgres@" + strings.Join(hosts, ",") + "/test?sslmode=disable&target_session_attrs=read-write"
}

// Name returns the member's name ("node0").
func (n *PatroniNode) Name() string { return n.pg.name }

// Addr returns its PostgreSQL's host:port.
func (n *PatroniNode) Addr() string { return n.pg.Addr() }

// DSN returns its PostgreSQL's DSN (database "test").
func (n *PatroniNode) DSN() string { return n.pg.DSN() }

// RESTURL returns the base URL of its Patroni's REST API.
func (n *PatroniNode) RESTURL() string { return fmt.Sprintf("http://127.0.0.1:%d", n.rest) }

// PatroniPID returns its Patroni's PID, or 0 when it does not run.
func (n *PatroniNode) PatroniPID() int {
	if n.patroni == nil {
		return 0
	}
	return n.patroni.pid()
}

// PostmasterPID returns its postmaster's PID, or 0 when it does not run.
func (n *PatroniNode) PostmasterPID() int { return n.pg.PID() }
