package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// galeraProvider is galera-4's library (Debian's galera-4 package, which
// comes with mariadb-server).
const galeraProvider = "/usr/lib/galera/libgalera_smm.so"

// A Galera is a MariaDB Galera cluster of the test's own: every node an
// Instance with its own defaults file, its group communication (gcomm),
// IST and SST ports free ports of 127.0.0.1, joined by rsync SST. The
// database "test" and AppUser were made on node 0 before the others
// joined. Galera's timeouts are its defaults (evs.suspect_timeout 5 s).
type Galera struct {
	t     testing.TB
	nodes []*Instance
}

// StartGalera starts a cluster of n nodes (node 0 with
// --wsrep-new-cluster, then the others one by one) and returns once every
// node reports wsrep_cluster_size = n and wsrep_ready = ON. It skips the
// test when galera-4 or rsync is missing, CI or not.
func StartGalera(t testing.TB, n int) *Galera {
	t.Helper()
	if n < 1 || n > 5 {
		t.Fatalf("StartGalera: %d nodes: 1 to 5", n)
	}
	if _, err := os.Stat(galeraProvider); err != nil {
		t.Skipf("galera-4 is not installed (%v)", err)
	}
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skipf("rsync is not installed (%v): Galera's SST needs it", err)
	}
	if mariadbd == "" {
		t.Skip("mariadbd is not installed")
	}
	began := time.Now()
	g := &Galera{t: t}
	started := timeTeardown(t, "Galera cluster")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ports := freePorts(t, 4*n) // per node: SQL, gcomm, IST, SST
	var gcomm []string
	for k := range n {
		gcomm = append(gcomm, fmt.Sprintf("127.0.0.1:%d", ports[4*k+1]))
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	cluster := "rs-galera-" + hex.EncodeToString(id[:])
	for k := range n {
		name := fmt.Sprintf("node%d", k)
		cnf := fmt.Sprintf(`# retrysql's Galera cluster %s
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
wsrep_on = ON
wsrep_provider = %s
wsrep_cluster_name = %s
wsrep_cluster_address = gcomm://%s
wsrep_node_name = %s
wsrep_node_address = 127.0.0.1:%d
wsrep_provider_options = "base_host=127.0.0.1;base_port=%d;gmcast.listen_addr=tcp://127.0.0.1:%d;ist.recv_addr=127.0.0.1:%d;gcache.size=32M"
wsrep_sst_method = rsync
wsrep_sst_receive_address = 127.0.0.1:%d
`, cluster, galeraProvider, cluster, strings.Join(gcomm, ","), name,
			ports[4*k+1], ports[4*k+1], ports[4*k+1], ports[4*k+2], ports[4*k+3])
		i := newMariaDB(t, "retrysql-galera-*", name, "mysql", cnf)
		i.port = ports[4*k]
		g.nodes = append(g.nodes, i)
	}
	// Stop every node at once at the end (a node leaves the cluster in
	// a second or two): the Instances' own cleanups find them stopped.
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, i := range g.nodes {
			wg.Go(func() {
				if err := i.Stop(); err != nil {
					t.Logf("Galera %s: %v", i.name, err)
				}
			})
		}
		wg.Wait()
	})

	first := g.nodes[0]
	first.installDB(t)
	first.once = []string{"--wsrep-new-cluster"}
	if err := first.Start(ctx); err != nil {
		t.Fatalf("Galera node0: %v", err)
	}
	for _, stmt := range append([]string{"CREATE DATABASE test"}, appUserSQL()...) {
		if err := execOn(ctx, "mysql", first.adminDSN(), stmt); err != nil {
			t.Fatalf("Galera node0: %v", err)
		}
	}
	// The joiners start together: one waits for a donor while the other
	// receives its SST.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k, i := range g.nodes[1:] {
		// A joiner's data directory is empty: the SST fills it.
		if err := os.Mkdir(i.data, 0o755); err != nil {
			t.Fatal(err)
		}
		if i.uid >= 0 {
			if err := os.Chown(i.data, i.uid, i.gid); err != nil {
				t.Fatal(err)
			}
		}
		wg.Go(func() { errs[k+1] = i.Start(ctx) })
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			t.Fatalf("Galera node%d did not join: %v", k, err)
		}
	}
	for k := range g.nodes {
		if err := g.WaitSynced(ctx, k, n); err != nil {
			t.Fatal(err)
		}
	}
	started()
	t.Logf("Galera cluster of %d nodes (%s) started in %v", n, first.Addr(), time.Since(began).Round(time.Millisecond))
	return g
}

// freePorts returns n distinct free ports.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	seen := map[int]bool{}
	var ports []int
	for len(ports) < n {
		p, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports
}

// Len returns the number of nodes.
func (g *Galera) Len() int { return len(g.nodes) }

// Node returns node n.
func (g *Galera) Node(n int) *Instance { return g.nodes[n] }

// DSN returns AppUser's DSN on node n (database "test").
func (g *Galera) DSN(n int) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/test", AppUser, AppPassword, g.nodes[n].Addr())
}

// RootDSN returns root's DSN on node n (database "test").
func (g *Galera) RootDSN(n int) string { return g.nodes[n].DSN() }

// FailoverDSN returns AppUser's MySQLFailoverDSN over the nodes, in the
// order given (every node in order if none is).
func (g *Galera) FailoverDSN(order ...int) string {
	if len(order) == 0 {
		for n := range g.nodes {
			order = append(order, n)
		}
	}
	addrs := make([]string, len(order))
	for k, n := range order {
		addrs[k] = g.nodes[n].Addr()
	}
	return MySQLFailoverDSN(AppUser, AppPassword, addrs...)
}

// Kill kills node n's mariadbd with SIGKILL (its PID checked first) and
// returns once it has exited. The others notice after
// evs.suspect_timeout (5 s): until then, their writes wait.
func (g *Galera) Kill(n int) error { return g.nodes[n].Kill() }

// LoseQuorum kills every node but survivor (2 of 3), which is left
// without a primary component once it notices (WaitStatus "non-Primary"):
// it still accepts connections, and answers every statement but SHOW and
// SET with 1047.
func (g *Galera) LoseQuorum(survivor int) error {
	for n := range g.nodes {
		if n != survivor {
			if err := g.Kill(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// Rejoin starts node n again (killed or stopped), which rejoins the
// cluster by IST or SST from a live node, and returns once every node
// that runs reports Synced in a cluster of all of them.
func (g *Galera) Rejoin(ctx context.Context, n int) error {
	if err := g.nodes[n].Start(ctx); err != nil {
		return fmt.Errorf("Galera node%d: %w", n, err)
	}
	return g.waitAllSynced(ctx)
}

// waitAllSynced returns once every running node is Synced in a cluster of
// all the running nodes.
func (g *Galera) waitAllSynced(ctx context.Context) error {
	var live []int
	for k, i := range g.nodes {
		if i.PID() != 0 {
			live = append(live, k)
		}
	}
	for _, k := range live {
		if err := g.WaitSynced(ctx, k, len(live)); err != nil {
			return err
		}
	}
	return nil
}

// Isolate cuts node n off the others' group communication
// (gmcast.isolate=1), as a network partition would, and returns once it
// is non-Primary: it still accepts connections, and answers statements
// with 1047. The others keep a primary component if they are a majority
// (their writes wait until they evict n, evs.suspect_timeout). Isolate
// with on false ends the partition and returns once every running node is
// Synced in a cluster of all of them again.
func (g *Galera) Isolate(ctx context.Context, n int, on bool) error {
	v := 0
	if on {
		v = 1
	}
	if err := g.Exec(ctx, n, fmt.Sprintf("SET GLOBAL wsrep_provider_options = 'gmcast.isolate=%d'", v)); err != nil {
		return err
	}
	if on {
		return g.WaitStatus(ctx, n, "non-Primary")
	}
	return g.waitAllSynced(ctx)
}

// Exec runs stmt as root on node n (SET GLOBAL, on the test's own node).
func (g *Galera) Exec(ctx context.Context, n int, stmt string) error {
	return execOn(ctx, "mysql", g.nodes[n].adminDSN(), stmt)
}

// Bootstrap makes node n a primary component of its own
// (pc.bootstrap=YES), as an operator does after the others were lost.
func (g *Galera) Bootstrap(ctx context.Context, n int) error {
	if err := execOn(ctx, "mysql", g.nodes[n].adminDSN(), "SET GLOBAL wsrep_provider_options = 'pc.bootstrap=YES'"); err != nil {
		return err
	}
	return g.WaitStatus(ctx, n, "Primary")
}

// Status returns node n's wsrep_ status variables.
func (g *Galera) Status(ctx context.Context, n int) (map[string]string, error) {
	db, err := sql.Open("mysql", g.nodes[n].adminDSN())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SHOW GLOBAL STATUS LIKE 'wsrep\\_%'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	st := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		st[k] = v
	}
	return st, rows.Err()
}

// WaitSynced returns once node n reports wsrep_cluster_size = size,
// wsrep_ready = ON and wsrep_local_state_comment = Synced.
func (g *Galera) WaitSynced(ctx context.Context, n, size int) error {
	return waitFor(ctx, func(ctx context.Context) error {
		st, err := g.Status(ctx, n)
		if err != nil {
			return err
		}
		if st["wsrep_cluster_size"] != fmt.Sprint(size) || st["wsrep_ready"] != "ON" || st["wsrep_local_state_comment"] != "Synced" {
			return fmt.Errorf("Galera node%d: cluster size %s (want %d), ready %s, state %s", n,
				st["wsrep_cluster_size"], size, st["wsrep_ready"], st["wsrep_local_state_comment"])
		}
		return nil
	})
}

// WaitStatus returns once node n's wsrep_cluster_status is status
// ("Primary", "non-Primary").
func (g *Galera) WaitStatus(ctx context.Context, n int, status string) error {
	return waitFor(ctx, func(ctx context.Context) error {
		st, err := g.Status(ctx, n)
		if err != nil {
			return err
		}
		if st["wsrep_cluster_status"] != status {
			return fmt.Errorf("Galera node%d: cluster status %s, want %s", n, st["wsrep_cluster_status"], status)
		}
		return nil
	})
}
