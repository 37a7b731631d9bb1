package dbtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverPID returns the PID that the server wrote, or 0 when no process of
// this instance runs under it.
func (i *Instance) serverPID() int {
	file, marker := i.pidFile, i.marker()
	if i.kind == "PostgreSQL" {
		file = filepath.Join(i.data, "postmaster.pid")
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

// marker is what the server's command line contains: its data directory
// or its defaults file.
func (i *Instance) marker() string {
	if i.kind == "MariaDB" {
		return "--defaults-file=" + i.cnf
	}
	return i.data
}

func (i *Instance) kill() error {
	if i.kind == "MariaDB" {
		if i.cmd == nil {
			return nil
		}
		pid := i.cmd.Process.Pid
		if alive(pid, i.marker()) {
			// mariadbd runs in a process group of its own (Setpgid): the
			// group holds what it started, such as an SST's rsync.
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		select {
		case <-i.exited:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("mariadbd (PID %d) did not exit within 10s of SIGKILL", pid)
		}
		i.cmd = nil
		return nil
	}
	pid := i.serverPID()
	if pid == 0 {
		return nil
	}
	kids := childrenOf(pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL postmaster %d: %w", pid, err)
	}
	if !waitGone(10*time.Second, pid, i.data) {
		return fmt.Errorf("postmaster %d still runs 10s after SIGKILL", pid)
	}
	// Its backends and auxiliary processes exit when they notice; until
	// they have, the data directory cannot be started again.
	for _, kid := range kids {
		if !waitGone(10*time.Second, kid, "postgres") {
			return fmt.Errorf("process %d of the killed postmaster %d still runs after 10s", kid, pid)
		}
	}
	removeStaleLocks(pid, filepath.Join(i.data, "postmaster.pid"), filepath.Join(i.sock, fmt.Sprintf(".s.PGSQL.%d.lock", i.port)))
	return nil
}

// removeStaleLocks removes the lock files that name the dead postmaster
// pid. A killed process stays a zombie until its parent reaps it (here the
// machine's PID 1, which does so every second or two), and until then a
// new postmaster would take the lock files for another server's.
func removeStaleLocks(pid int, files ...string) {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		line, _, _ := strings.Cut(string(b), "\n")
		if strings.TrimSpace(line) == strconv.Itoa(pid) {
			_ = os.Remove(f)
		}
	}
}

// childrenOf returns the PIDs of the processes whose parent is pid.
func childrenOf(pid int) []int {
	return processes(func(ppid, _ int) bool { return ppid == pid })
}

// killLeftovers kills what is left of the process group pgid, a server's
// own, whose command line names dir: such as an SST's rsync daemon that
// outlived its mariadbd.
func killLeftovers(pgid int, dir string) {
	for _, p := range processes(func(_, pgrp int) bool { return pgrp == pgid }) {
		if alive(p, dir) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

// processes returns the PIDs of the processes whose parent and process
// group match.
func processes(match func(ppid, pgrp int) bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		j := bytes.LastIndexByte(stat, ')')
		if j < 0 {
			continue
		}
		f := strings.Fields(string(stat[j+1:]))
		if len(f) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		if match(ppid, pgrp) {
			pids = append(pids, p)
		}
	}
	return pids
}

// waitGone waits until pid no longer runs with marker in its command
// line, for at most d, and tells whether it is gone.
func waitGone(d time.Duration, pid int, marker string) bool {
	for deadline := time.Now().Add(d); alive(pid, marker); {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// A proc is a process the test started directly (etcd, Patroni), in a
// process group of its own, with its output in a log file. It is only
// ever signalled while its command line still contains marker.
type proc struct {
	name   string
	marker string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startProc starts prog as the OS user uid, gid (the test's own when uid
// is -1), in dir, with env, its output appended to logPath.
func startProc(name, marker, dir, logPath string, uid, gid int, env []string, prog string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(prog, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if uid >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, marker: marker, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// pid returns the process's PID while it runs, else 0.
func (p *proc) pid() int {
	select {
	case <-p.exited:
		return 0
	default:
	}
	if !alive(p.cmd.Process.Pid, p.marker) {
		return 0
	}
	return p.cmd.Process.Pid
}

// kill sends SIGKILL to the process's group and waits until it exited.
func (p *proc) kill() error {
	if pid := p.pid(); pid != 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (PID %d) did not exit within 10s of SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// stop sends SIGTERM, waits at most grace for the process to exit, and
// then kills its group.
func (p *proc) stop(grace time.Duration) error {
	pid := p.pid()
	if pid == 0 {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
	}
	if err := p.kill(); err != nil {
		return err
	}
	return fmt.Errorf("%s (PID %d) still ran %v after SIGTERM: killed", p.name, pid, grace)
}
