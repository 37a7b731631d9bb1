package dbtest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// An Instance is a database server that the test process started itself,
// for tests that restart, stop or reconfigure a server: a PostgreSQL 15 or
// a MariaDB, listening on a free port of 127.0.0.1, with its own data
// directory, socket directory and log file under a temporary directory.
// It never touches the machine's own servers (5432, 3306).
//
// The test's cleanup stops it by the PID its server wrote (SIGTERM, then
// SIGKILL), whatever happened, and removes its directories.
//
// The clusters of this package (StartPGCluster, StartMariaDBReplication,
// StartGalera) are made of Instances.
type Instance struct {
	kind string // "PostgreSQL" or "MariaDB"
	name string // the node's name in a cluster, "" for a lone instance
	port int
	dir  string // everything of the instance is under it
	data string // data directory
	sock string // socket directory
	log  string // the server's log file

	// PostgreSQL only.
	settings []string // the server's -c settings; nil: a lone instance's

	// The OS user the server runs as when the test runs as root (postgres;
	// root or mysql for MariaDB), who owns its directories; else "", -1.
	user     string
	uid, gid int

	// MariaDB only.
	cnf     string   // its own defaults file: /etc/mysql is never read
	pidFile string   //
	once    []string // mariadbd arguments for the next start only (--wsrep-new-cluster)

	mu     sync.Mutex
	cmd    *exec.Cmd     // the running mariadbd (MariaDB only)
	pgid   int           // the process group of the last mariadbd started (its own)
	exited chan struct{} // closed when cmd has exited
}

// The binaries the instances run (Debian's packages).
const pgBin = "/usr/lib/postgresql/15/bin"

var (
	mariadbd         = findBinary("mariadbd", "/usr/sbin/mariadbd", "/usr/bin/mariadbd")
	mariadbInstallDB = findBinary("mariadb-install-db", "/usr/bin/mariadb-install-db", "/usr/sbin/mariadb-install-db")
)

func findBinary(name string, paths ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// unavailable skips the test, or fails it when CI is set.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func asRoot() bool { return os.Geteuid() == 0 }

// StartPostgres starts a PostgreSQL 15 server of the test's own (initdb
// with trust authentication, fsync off) with a database "test", and
// returns once it accepts connections. User postgres, no password.
func StartPostgres(t testing.TB) *Instance {
	t.Helper()
	began := time.Now()
	i := newPostgres(t, "retrysql-pg-*", "")
	i.initdb(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	i.startFresh(t, ctx, i.startPostgres)
	if err := execOn(ctx, "pgx", i.adminDSN(), "CREATE DATABASE test"); err != nil {
		t.Fatalf("PostgreSQL instance: %v", err)
	}
	t.Logf("PostgreSQL instance on %s (%s) started in %v", i.Addr(), i.dir, time.Since(began).Round(time.Millisecond))
	return i
}

// newPostgres makes a PostgreSQL instance's directories (the data
// directory is not made: initdb or pg_basebackup makes it).
func newPostgres(t testing.TB, pattern, name string) *Instance {
	t.Helper()
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(pgBin, b)); err != nil {
			unavailable(t, "PostgreSQL 15 is not installed (%v): cannot start an instance of the test's own", err)
		}
	}
	i := newInstance(t, "PostgreSQL", pattern, pgUser(t))
	i.name = name
	i.data = filepath.Join(i.dir, "data")
	i.log = filepath.Join(i.dir, "postgres.log")
	return i
}

// pgUser returns the OS user that PostgreSQL runs as: postgres when the
// test runs as root (initdb and postgres refuse to run as root), else the
// test's own ("").
func pgUser(t testing.TB) string {
	t.Helper()
	if !asRoot() {
		return ""
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		unavailable(t, "runuser is missing (%v): cannot run PostgreSQL as the postgres user", err)
	}
	return "postgres"
}

func (i *Instance) initdb(t testing.TB) {
	t.Helper()
	out, err := i.pgCommand(context.Background(), filepath.Join(pgBin, "initdb"),
		"-D", i.data, "-U", "postgres", "--auth=trust", "--no-sync", "--no-instructions",
		"-E", "UTF8", "--locale=C").CombinedOutput()
	if err != nil {
		t.Fatalf("initdb: %v: %s", err, bytes.TrimSpace(out))
	}
}

// StartMariaDB starts a MariaDB server of the test's own (root over TCP
// with an empty password) with a database "test", and returns once it
// accepts connections.
func StartMariaDB(t testing.TB) *Instance {
	t.Helper()
	began := time.Now()
	i := newMariaDB(t, "retrysql-mariadb-*", "", "", "")
	i.installDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	i.startFresh(t, ctx, i.startMariaDB)
	if err := execOn(ctx, "mysql", i.adminDSN(), "CREATE DATABASE IF NOT EXISTS test"); err != nil {
		t.Fatalf("MariaDB instance: %v", err)
	}
	t.Logf("MariaDB instance on %s (%s) started in %v", i.Addr(), i.dir, time.Since(began).Round(time.Millisecond))
	return i
}

// newMariaDB makes a MariaDB instance's directories and its defaults
// file, to which extra is appended (the binary log is off unless extra
// sets log_bin). With user set and the test running as root, mariadbd
// runs as that OS user (Galera's rsync SST needs a server that is not
// root); else as the test's user.
func newMariaDB(t testing.TB, pattern, name, user, extra string) *Instance {
	t.Helper()
	if mariadbd == "" || mariadbInstallDB == "" {
		unavailable(t, "MariaDB's mariadbd or mariadb-install-db is not installed: cannot start an instance of the test's own")
	}
	if !asRoot() {
		user = ""
	} else if user == "" {
		user = "root"
	}
	i := newInstance(t, "MariaDB", pattern, user)
	i.name = name
	i.data = filepath.Join(i.dir, "data")
	i.log = filepath.Join(i.dir, "mariadbd.log")
	i.cnf = filepath.Join(i.dir, "my.cnf")
	i.pidFile = filepath.Join(i.dir, "mariadbd.pid")
	cnf := fmt.Sprintf(`# An instance of the retrysql tests: only this file is read.
[mysqld]
datadir = %s
socket = %s
pid-file = %s
log-error = %s
bind-address = 127.0.0.1
skip-name-resolve
max_connections = 200
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
innodb_buffer_pool_size = 64M
innodb_log_file_size = 32M
innodb_flush_log_at_trx_commit = 2
innodb_doublewrite = 0
innodb_buffer_pool_dump_at_shutdown = 0
innodb_buffer_pool_load_at_startup = 0
`, i.data, filepath.Join(i.sock, "mariadbd.sock"), i.pidFile, i.log)
	if !strings.Contains(extra, "log_bin") {
		cnf += "skip-log-bin\n"
	}
	if user != "" {
		cnf += "user = " + user + "\n"
	}
	cnf += extra
	if err := os.WriteFile(i.cnf, []byte(cnf), 0o644); err != nil {
		t.Fatal(err)
	}
	return i
}

// installDB makes the data directory with mariadb-install-db.
func (i *Instance) installDB(t testing.TB) {
	t.Helper()
	args := []string{"--defaults-file=" + i.cnf, "--datadir=" + i.data,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"}
	if i.user != "" {
		args = append(args, "--user="+i.user)
	}
	cmd := exec.Command(mariadbInstallDB, args...)
	cmd.Dir = i.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v: %s", err, bytes.TrimSpace(out))
	}
}

// DSN returns the DSN of the instance's database "test": a pgx URL for
// PostgreSQL, a go-sql-driver/mysql DSN for MariaDB.
func (i *Instance) DSN() string {
	if i.kind == "PostgreSQL" {
		return fmt.Sprintf("postgres://postgres@%s/test?sslmode=disable", i.Addr())
	}
	return fmt.Sprintf("root@tcp(%s)/test", i.Addr())
}

// adminDSN is the DSN of the server's own database (postgres, or none).
func (i *Instance) adminDSN() string {
	if i.kind == "PostgreSQL" {
		return strings.Replace(i.DSN(), "/test?", "/postgres?", 1)
	}
	return fmt.Sprintf("root@tcp(%s)/", i.Addr())
}

// Addr returns the instance's host:port.
func (i *Instance) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(i.port)) }

// Port returns the instance's port.
func (i *Instance) Port() int { return i.port }

// Name returns the instance's name in its cluster ("node0", ...), or ""
// for a lone instance.
func (i *Instance) Name() string { return i.name }

// Driver returns the database/sql driver name for DSN: "pgx" or "mysql".
func (i *Instance) Driver() string {
	if i.kind == "PostgreSQL" {
		return "pgx"
	}
	return "mysql"
}

// Open returns a handle on the instance's database "test", closed when the
// test ends.
func (i *Instance) Open(t testing.TB) *sql.DB {
	t.Helper()
	return open(t, i.Driver(), i.DSN())
}

// LogFile returns the path of the server's log.
func (i *Instance) LogFile() string { return i.log }

// PID returns the PID of the running server (PostgreSQL's postmaster), or
// 0 when it does not run.
func (i *Instance) PID() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.serverPID()
}

// Start starts the stopped instance again, on the same port with the same
// data, and returns once it accepts connections.
func (i *Instance) Start(ctx context.Context) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.start(ctx)
}

// Stop shuts the instance down, ending every session (PostgreSQL's fast
// shutdown; MariaDB's normal shutdown on SIGTERM), and returns once the
// server has exited. Stopping a stopped instance does nothing.
func (i *Instance) Stop() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.stop()
}

// Kill ends the server at once with SIGKILL, as a crash would, and
// returns once it has exited: for PostgreSQL the postmaster alone (its
// backends notice and exit, and Kill waits for them, so that the instance
// can start again); for MariaDB mariadbd and what it started (an SST's
// rsync). The PID is checked against the instance's data directory or
// defaults file first. Killing a stopped instance does nothing.
func (i *Instance) Kill() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.kill()
}

// Restart stops the instance (every session is ended) and starts it again
// on the same port, returning once it accepts connections.
func (i *Instance) Restart(ctx context.Context) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.stop(); err != nil {
		return err
	}
	return i.start(ctx)
}

func (i *Instance) start(ctx context.Context) error {
	if i.kind == "PostgreSQL" {
		return i.startPostgres(ctx)
	}
	return i.startMariaDB(ctx)
}
