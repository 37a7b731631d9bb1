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
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newInstance makes the instance's directories and registers its
// cleanup. With a user (the test running as root), the directories are
// that OS user's, and so are the instance's uid and gid; else they are -1.
func newInstance(t testing.TB, kind, pattern, user string) *Instance {
	t.Helper()
	uid, gid := -1, -1
	if user != "" {
		u, err := osuser.Lookup(user)
		if err != nil {
			unavailable(t, "no %s OS user (%v): cannot run %s as root", user, err, kind)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	if uid >= 0 && !reachable(dir, uid, gid, user) && os.TempDir() != "/tmp" {
		// The user must reach the directory: a TMPDIR under a private
		// home would not do.
		os.RemoveAll(dir)
		if dir, err = os.MkdirTemp("/tmp", pattern); err != nil {
			t.Fatal(err)
		}
	}
	i := &Instance{kind: kind, dir: dir, sock: filepath.Join(dir, "sock"), user: user, uid: uid, gid: gid}
	t.Cleanup(func() { i.cleanup(t) })
	if err := os.Mkdir(i.sock, 0o700); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		if err := os.Chown(i.sock, uid, gid); err != nil {
			t.Fatal(err)
		}
		if !reachable(dir, uid, gid, user) {
			t.Fatalf("the %s OS user cannot use %s", user, dir)
		}
	}
	return i
}

// reachable gives dir to uid and gid and tells whether user can write in
// it.
func reachable(dir string, uid, gid int, user string) bool {
	if os.Chown(dir, uid, gid) != nil {
		return false
	}
	return exec.Command("runuser", "-u", user, "--", "test", "-w", dir, "-a", "-x", dir).Run() == nil
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
	settings := i.settings
	if settings == nil {
		settings = []string{"fsync=off", "synchronous_commit=off", "full_page_writes=off"}
	}
	opts := fmt.Sprintf("-p %d -k '%s' -c listen_addresses=127.0.0.1", i.port, i.sock)
	for _, s := range settings {
		opts += " -c " + s
	}
	out, err := i.pgCommand(ctx, filepath.Join(pgBin, "pg_ctl"),
		"-D", i.data, "-l", i.log, "-w", "-t", "60", "-o", opts, "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s\n%s", err, bytes.TrimSpace(out), i.logTail(20))
	}
	return i.waitReady(ctx, "pgx", i.adminDSN())
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
	if i.uid >= 0 {
		if err := logf.Chown(i.uid, i.gid); err != nil {
			return err
		}
	}
	before, _ := os.Stat(i.log)
	// --defaults-file must come first.
	cmd := exec.Command(mariadbd, append([]string{"--defaults-file=" + i.cnf, "--port=" + strconv.Itoa(i.port)}, i.once...)...)
	i.once = nil
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
	i.cmd, i.exited, i.pgid = cmd, exited, cmd.Process.Pid
	ready := make(chan error, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { ready <- i.waitReady(wctx, "mysql", i.adminDSN()) }()
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
	marker := i.marker()
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
	if i.pgid != 0 {
		killLeftovers(i.pgid, i.dir)
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
