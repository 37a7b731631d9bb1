package dbtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
type Instance struct {
	kind string // "PostgreSQL" or "MariaDB"
	port int
	dir  string // everything of the instance is under it
	data string // data directory
	sock string // socket directory
	log  string // the server's log file

	// MariaDB only.
	cnf     string // its own defaults file: /etc/mysql is never read
	pidFile string

	mu     sync.Mutex
	cmd    *exec.Cmd     // the running mariadbd (MariaDB only)
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
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(pgBin, b)); err != nil {
			unavailable(t, "PostgreSQL 15 is not installed (%v): cannot start an instance of the test's own", err)
		}
	}
	var uid, gid = -1, -1
	if asRoot() {
		// initdb and postgres refuse to run as root: they run as the
		// postgres OS user, which must own the directories.
		if _, err := exec.LookPath("runuser"); err != nil {
			unavailable(t, "runuser is missing (%v): cannot run PostgreSQL as the postgres user", err)
		}
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable(t, "no postgres OS user (%v): cannot run PostgreSQL as root", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	began := time.Now()
	i := newInstance(t, "PostgreSQL", "retrysql-pg-*", uid, gid)
	i.data = filepath.Join(i.dir, "data")
	i.log = filepath.Join(i.dir, "postgres.log")

	out, err := i.pgCommand(context.Background(), filepath.Join(pgBin, "initdb"),
		"-D", i.data, "-U", "postgres", "--auth=trust", "--no-sync", "--no-instructions",
		"-E", "UTF8", "--locale=C").CombinedOutput()
	if err != nil {
		t.Fatalf("initdb: %v: %s", err, bytes.TrimSpace(out))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	i.startFresh(t, ctx, i.startPostgres)
	admin := strings.Replace(i.DSN(), "/test?", "/postgres?", 1)
	if err := execOn(ctx, "pgx", admin, "CREATE DATABASE test"); err != nil {
		t.Fatalf("PostgreSQL instance: %v", err)
	}
	t.Logf("PostgreSQL instance on %s (%s) started in %v", i.Addr(), i.dir, time.Since(began).Round(time.Millisecond))
	return i
}

// StartMariaDB starts a MariaDB server of the test's own (root over TCP
// with an empty password) with a database "test", and returns once it
// accepts connections.
func StartMariaDB(t testing.TB) *Instance {
	t.Helper()
	if mariadbd == "" || mariadbInstallDB == "" {
		unavailable(t, "MariaDB's mariadbd or mariadb-install-db is not installed: cannot start an instance of the test's own")
	}
	began := time.Now()
	i := newInstance(t, "MariaDB", "retrysql-mariadb-*", -1, -1)
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
skip-log-bin
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
	if asRoot() {
		cnf += "user = root\n"
	}
	if err := os.WriteFile(i.cnf, []byte(cnf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--defaults-file=" + i.cnf, "--datadir=" + i.data,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"}
	if asRoot() {
		args = append(args, "--user=root")
	}
	cmd := exec.Command(mariadbInstallDB, args...)
	cmd.Dir = i.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v: %s", err, bytes.TrimSpace(out))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	i.startFresh(t, ctx, i.startMariaDB)
	admin := fmt.Sprintf("root@tcp(%s)/", i.Addr())
	if err := execOn(ctx, "mysql", admin, "CREATE DATABASE IF NOT EXISTS test"); err != nil {
		t.Fatalf("MariaDB instance: %v", err)
	}
	t.Logf("MariaDB instance on %s (%s) started in %v", i.Addr(), i.dir, time.Since(began).Round(time.Millisecond))
	return i
}

// newInstance makes the instance's directories, owned by uid and gid
// when they are not -1, and registers its cleanup.
func newInstance(t testing.TB, kind, pattern string, uid, gid int) *Instance {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	if uid >= 0 && !reachable(dir, uid, gid) && os.TempDir() != "/tmp" {
		// The postgres user must reach the directory: a TMPDIR under a
		// private home would not do.
		os.RemoveAll(dir)
		if dir, err = os.MkdirTemp("/tmp", pattern); err != nil {
			t.Fatal(err)
		}
	}
	i := &Instance{kind: kind, dir: dir, sock: filepath.Join(dir, "sock")}
	t.Cleanup(func() { i.cleanup(t) })
	if err := os.Mkdir(i.sock, 0o700); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		if err := os.Chown(i.sock, uid, gid); err != nil {
			t.Fatal(err)
		}
		if !reachable(dir, uid, gid) {
			t.Fatalf("the postgres OS user cannot use %s", dir)
		}
	}
	return i
}

// reachable gives dir to uid and gid and tells whether the postgres user
// can write in it.
func reachable(dir string, uid, gid int) bool {
	if os.Chown(dir, uid, gid) != nil {
		return false
	}
	return exec.Command("runuser", "-u", "postgres", "--", "test", "-w", dir, "-a", "-x", dir).Run() == nil
}

// startFresh starts a new instance's server on a free port, choosing
// another port if that one was taken meanwhile.
func (i *Instance) startFresh(t testing.TB, ctx context.Context, start func(context.Context) error) {
	t.Helper()
	var err error
	for range 3 {
		if i.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		i.mu.Lock()
		err = start(ctx)
		i.mu.Unlock()
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	t.Fatalf("%s instance did not start: %v", i.kind, err)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DSN returns the DSN of the instance's database "test": a pgx URL for
// PostgreSQL, a go-sql-driver/mysql DSN for MariaDB.
func (i *Instance) DSN() string {
	if i.kind == "PostgreSQL" {
		return fmt.Sprintf("postgres://postgres@%s/test?sslmode=disable", i.Addr())
	}
	return fmt.Sprintf("root@tcp(%s)/test", i.Addr())
}

// Addr returns the instance's host:port.
func (i *Instance) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(i.port)) }

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

// Start starts the stopped instance again, on the same port with the same
// data, and returns once it accepts connections.
func (i *Instance) Start(ctx context.Context) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.kind == "PostgreSQL" {
		return i.startPostgres(ctx)
	}
	return i.startMariaDB(ctx)
}

// Stop shuts the instance down, ending every session (PostgreSQL's fast
// shutdown; MariaDB's normal shutdown on SIGTERM), and returns once the
// server has exited. Stopping a stopped instance does nothing.
func (i *Instance) Stop() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.stop()
}

// Restart stops the instance (every session is ended) and starts it again
// on the same port, returning once it accepts connections.
func (i *Instance) Restart(ctx context.Context) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.stop(); err != nil {
		return err
	}
	if i.kind == "PostgreSQL" {
		return i.startPostgres(ctx)
	}
	return i.startMariaDB(ctx)
}

func (i *Instance) stop() error {
	if i.kind == "PostgreSQL" {
		if i.serverPID() == 0 {
			return nil
		}
		out, err := i.pgCommand(context.Background(), filepath.Join(pgBin, "pg_ctl"),
			"-D", i.data, "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput()
		if err != nil {
			return fmt.Errorf("pg_ctl stop: %v: %s", err, bytes.TrimSpace(out))
		}
		return nil
	}
	if i.cmd == nil {
		return nil
	}
	_ = i.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-i.exited:
	case <-time.After(60 * time.Second):
		_ = i.cmd.Process.Kill()
		<-i.exited
		i.cmd = nil
		return fmt.Errorf("mariadbd did not exit within 60s of SIGTERM; killed")
	}
	i.cmd = nil
	return nil
}

// pgCommand runs a PostgreSQL program as the postgres OS user when the
// test runs as root.
func (i *Instance) pgCommand(ctx context.Context, prog string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if asRoot() {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", prog}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, prog, args...)
	}
	cmd.Dir = i.dir
	return cmd
}

func (i *Instance) startPostgres(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k '%s' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
		i.port, i.sock)
	out, err := i.pgCommand(ctx, filepath.Join(pgBin, "pg_ctl"),
		"-D", i.data, "-l", i.log, "-w", "-t", "60", "-o", opts, "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s\n%s", err, bytes.TrimSpace(out), i.logTail(20))
	}
	admin := strings.Replace(i.DSN(), "/test?", "/postgres?", 1)
	return i.waitReady(ctx, "pgx", admin)
}

func (i *Instance) startMariaDB(ctx context.Context) error {
	if i.cmd != nil {
		return fmt.Errorf("mariadbd is already running")
	}
	logf, err := os.OpenFile(i.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	before, _ := os.Stat(i.log)
	// --defaults-file must come first.
	cmd := exec.Command(mariadbd, "--defaults-file="+i.cnf, "--port="+strconv.Itoa(i.port))
	cmd.Dir = i.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	i.cmd, i.exited = cmd, exited
	ready := make(chan error, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { ready <- i.waitReady(wctx, "mysql", fmt.Sprintf("root@tcp(%s)/", i.Addr())) }()
	select {
	case err := <-ready:
		if err != nil {
			_ = i.stop()
		}
		return err
	case <-exited:
		cancel()
		<-ready
		i.cmd = nil
		var since int64
		if before != nil {
			since = before.Size()
		}
		tail := i.logTail(20)
		if b, err := os.ReadFile(i.log); err == nil && int64(len(b)) >= since && bytes.Contains(b[since:], []byte("Address already in use")) {
			return fmt.Errorf("mariadbd exited: port %d in use\n%s", i.port, tail)
		}
		return fmt.Errorf("mariadbd exited: %v\n%s", cmd.ProcessState, tail)
	}
}

// waitReady pings dsn until it answers.
func (i *Instance) waitReady(ctx context.Context, driver, dsn string) error {
	for {
		err := ping(ctx, driver, dsn)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s instance on %s does not accept connections: %v\n%s", i.kind, i.Addr(), err, i.logTail(20))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func execOn(ctx context.Context, driver, dsn, stmt string) error {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

// serverPID returns the PID that the server wrote, or 0 when no process of
// this instance runs under it.
func (i *Instance) serverPID() int {
	file, marker := i.pidFile, "--defaults-file="+i.cnf
	if i.kind == "PostgreSQL" {
		file, marker = filepath.Join(i.data, "postmaster.pid"), i.data
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 1 || !alive(pid, marker) {
		return 0
	}
	return pid
}

// alive tells whether pid is a live process whose command line contains
// marker (its data directory or defaults file): a PID reused by another
// process, such as the machine's own servers, is never signalled.
func alive(pid int, marker string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(marker)) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...
	if j := bytes.LastIndexByte(stat, ')'); j >= 0 && j+2 < len(stat) && stat[j+2] == 'Z' {
		return false
	}
	return true
}

// cleanup stops the server by its PID, whatever state the instance is in,
// and removes the instance's directories.
func (i *Instance) cleanup(t testing.TB) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if t.Failed() && i.log != "" {
		if tail := i.logTail(30); tail != "" {
			t.Logf("%s instance's log (%s), last lines:\n%s", i.kind, i.log, tail)
		}
	}
	marker := i.data
	if i.kind == "MariaDB" {
		marker = "--defaults-file=" + i.cnf
	}
	if pid := i.serverPID(); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if i.kind == "PostgreSQL" {
			// SIGTERM is PostgreSQL's smart shutdown, which waits for the
			// sessions to end; SIGINT upgrades it to a fast shutdown.
			_ = syscall.Kill(pid, syscall.SIGINT)
		}
		deadline := time.Now().Add(5 * time.Second)
		for alive(pid, marker) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid, marker) {
			t.Logf("%s instance (PID %d) still runs 5s after SIGTERM: SIGKILL", i.kind, pid)
			if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
				_ = syscall.Kill(-pid, syscall.SIGKILL) // its own group: the backends too
			} else {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			for deadline := time.Now().Add(5 * time.Second); alive(pid, marker) && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	if i.cmd != nil {
		_ = i.cmd.Process.Kill() // a mariadbd that never wrote its PID file
		select {
		case <-i.exited:
		case <-time.After(5 * time.Second):
			t.Errorf("mariadbd (PID %d) did not exit", i.cmd.Process.Pid)
		}
		i.cmd = nil
	}
	if err := os.RemoveAll(i.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Logf("removing %s: %v", i.dir, err)
	}
}

// logTail returns the last n lines of the server's log.
func (i *Instance) logTail(n int) string {
	b, err := os.ReadFile(i.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
