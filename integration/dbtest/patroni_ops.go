package dbtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// get asks url and returns nil on a 200.
func (p *Patroni) get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// isLeader returns nil when node n's Patroni answers /leader with 200.
func (p *Patroni) isLeader(ctx context.Context, n int) error {
	return p.get(ctx, p.nodes[n].RESTURL()+"/leader")
}

// Leader returns the node whose Patroni answers /leader with 200 now.
func (p *Patroni) Leader(ctx context.Context) (int, error) {
	var errs []error
	for n := range p.nodes {
		err := p.isLeader(ctx, n)
		if err == nil {
			return n, nil
		}
		errs = append(errs, err)
	}
	return -1, fmt.Errorf("no Patroni leader: %w", errors.Join(errs...))
}

// WaitLeader returns the leader once a node other than old (-1: any)
// answers /leader with 200 and its PostgreSQL accepts writes.
func (p *Patroni) WaitLeader(ctx context.Context, old int) (int, error) {
	leader := -1
	err := waitFor(ctx, func(ctx context.Context) error {
		for n := range p.nodes {
			if n == old || p.isLeader(ctx, n) != nil {
				continue
			}
			if err := execOn(ctx, "pgx", p.nodes[n].pg.adminDSN(), "SELECT txid_current()"); err != nil {
				return fmt.Errorf("the new leader %s does not accept writes yet: %w", p.nodes[n].pg.name, err)
			}
			leader = n
			return nil
		}
		return fmt.Errorf("no Patroni leader but node%d", old)
	})
	return leader, err
}

// WaitStreaming returns once the leader's pg_stat_replication shows
// replicas other members streaming (matched by application_name, which
// Patroni sets to the member's name).
func (p *Patroni) WaitStreaming(ctx context.Context, leader, replicas int) error {
	var names []string
	for n, node := range p.nodes {
		if n != leader {
			names = append(names, "'"+node.pg.name+"'")
		}
	}
	q := "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name IN (" + strings.Join(names, ",") + ")"
	return waitFor(ctx, func(ctx context.Context) error {
		var got int
		if err := queryOn(ctx, "pgx", p.nodes[leader].pg.adminDSN(), q, &got); err != nil {
			return err
		}
		if got < replicas {
			return fmt.Errorf("%d Patroni replicas stream from %s, want %d", got, p.nodes[leader].pg.name, replicas)
		}
		return nil
	})
}

// WaitSynchronous returns once the leader has a synchronous standby
// (pg_stat_replication's sync_state is 'sync'), which Patroni's
// synchronous mode names once a replica streams.
func (p *Patroni) WaitSynchronous(ctx context.Context, leader int) error {
	const q = "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')"
	return waitFor(ctx, func(ctx context.Context) error {
		var got int
		if err := queryOn(ctx, "pgx", p.nodes[leader].pg.adminDSN(), q, &got); err != nil {
			return err
		}
		if got == 0 {
			return fmt.Errorf("%s has no synchronous standby yet", p.nodes[leader].pg.name)
		}
		return nil
	})
}

// Crash kills node n's Patroni and its postmaster with SIGKILL (each PID
// checked first: its YAML, its data directory), as a crash of the machine
// would, and returns once both have exited. Killing only Patroni would
// leave its PostgreSQL a writable primary beside the one promoted
// (there is no watchdog here): a split brain.
func (p *Patroni) Crash(n int) error {
	node := p.nodes[n]
	// Patroni first: it would restart a postmaster killed under it.
	var err error
	if node.patroni != nil {
		err = node.patroni.kill()
	}
	return errors.Join(err, node.pg.Kill())
}

// CrashLeader crashes the current leader (Crash) and returns its index.
// Patroni promotes another node once the leader key expires (ttl 10 s).
func (p *Patroni) CrashLeader(ctx context.Context) (int, error) {
	leader, err := p.Leader(ctx)
	if err != nil {
		return -1, err
	}
	return leader, p.Crash(leader)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
